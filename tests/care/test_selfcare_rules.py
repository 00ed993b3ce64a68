"""R-TK-2 self-care level and R-TK-1 reassessment deadline: pure rules."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.care.selfcare import rules
from shared.calendar import WorkingDayCalendar

ITEMS = list(rules.ITEMS)


@pytest.mark.parametrize(
    ("not_achieved", "level"),
    [
        ([], "self_care"),
        (["bathing"], "partial_loss"),
        (["bathing", "dressing", "walking_indoors"], "partial_loss"),
        (["bathing", "dressing", "walking_indoors", "toileting"], "full_loss"),
        (["eating", "dressing", "bed_transfer", "toileting", "walking_indoors"], "full_loss"),
        (ITEMS, "full_loss"),
    ],
)
def test_levels(not_achieved: list[str], level: str) -> None:
    assert rules.assess(not_achieved).level == level


def test_unknown_item_is_refused_with_its_code() -> None:
    with pytest.raises(rules.SelfCareInputError) as exc:
        rules.assess(["bathing", "flying"])
    assert exc.value.code == "unknown_item"
    assert exc.value.item == "flying"


def test_duplicate_item_is_refused() -> None:
    with pytest.raises(rules.SelfCareInputError) as exc:
        rules.assess(["bathing", "bathing"])
    assert exc.value.code == "duplicate_item"


def test_items_come_back_in_the_standard_order_and_the_trace_lists_each() -> None:
    result = rules.assess(["bathing", "eating"])
    assert result.not_achieved == ("eating", "bathing")
    trace = result.trace()
    assert trace["rule"] == "R-TK-2"
    assert trace["not_achieved_count"] == 2
    assert trace["items"] == {
        "eating": False, "dressing": True, "bed_transfer": True, "toileting": True, "walking_indoors": True, "bathing": False,
    }


@pytest.mark.parametrize(("count", "level"), [(0, "self_care"), (1, "partial_loss"), (3, "partial_loss"), (4, "full_loss"), (6, "full_loss")])
def test_level_for_count_boundaries(count: int, level: str) -> None:
    assert rules.level_for_count(count) == level


@pytest.mark.parametrize("count", [-1, 7])
def test_level_for_count_out_of_range(count: int) -> None:
    with pytest.raises(ValueError):
        rules.level_for_count(count)


@given(st.lists(st.sampled_from(ITEMS), unique=True))
def test_level_depends_only_on_how_many_items_are_not_achieved(items: list[str]) -> None:
    level = rules.assess(items).level
    n = len(items)
    assert level == ("self_care" if n == 0 else "partial_loss" if n <= 3 else "full_loss")
    # the order of the input never matters
    assert rules.assess(list(reversed(items))).level == level


@given(st.lists(st.sampled_from(ITEMS), unique=True), st.sampled_from(ITEMS))
def test_losing_one_more_ability_never_improves_the_level(items: list[str], extra: str) -> None:
    rank = {"self_care": 0, "partial_loss": 1, "full_loss": 2}
    more = items if extra in items else [*items, extra]
    assert rank[rules.assess(more).level] >= rank[rules.assess(items).level]


def test_reassessment_is_due_ten_working_days_after_the_report() -> None:
    # Reported Monday 2020-06-15: the Dragon Boat holiday (25-26 June, 28 June a make-up Sunday)
    # is counted with the official calendar: 16,17,18,19,22,23,24,28,29,30 June.
    deadline = rules.reassessment_deadline(date(2020, 6, 15), 10, WorkingDayCalendar())
    assert deadline.deadline_date == date(2020, 6, 30)
    assert deadline.deadline_at.isoformat() == "2020-07-01T00:00:00+08:00"
    assert deadline.provisional is False


def test_reassessment_deadline_in_a_year_without_official_data_is_provisional() -> None:
    deadline = rules.reassessment_deadline(date(2031, 3, 3), 10, WorkingDayCalendar())
    assert deadline.deadline_date == date(2031, 3, 17)
    assert deadline.provisional is True
