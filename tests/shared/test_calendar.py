"""Working days with 调休 and the R-TR-2 deadline."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.calendar import (
    TZ,
    CalendarError,
    Deadline,
    WorkingDayCalendar,
    YearArrangement,
    validate_arrangement,
    working_day_deadline,
    years_spanned,
)
from shared.errors import Problem


def handout_cases(name: str) -> list[dict]:
    """A case file of the read-only handout at ``<repo>/../shared/cases``."""
    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "cases" / name
    return json.loads(path.read_text(encoding="utf-8"))


CASES = handout_cases("working-days.json")
# A made-up 2027 arrangement (the package has no 2027 data): New Year's Day off, one make-up Sunday.
ARRANGEMENT_2027 = validate_arrangement(2027, {date(2027, 1, 1)}, {date(2027, 2, 7)})


def _official_2020() -> YearArrangement:
    """2020 as the package encodes it, in the administrator's form (Mon–Fri days off only)."""
    holidays = {d for d in chinese_calendar.holidays if d.year == 2020 and d.weekday() < 5}
    workdays = {d for d in chinese_calendar.workdays if d.year == 2020}
    return validate_arrangement(2020, holidays, workdays)


@pytest.mark.parametrize("case", CASES, ids=[c["accepted_at"] for c in CASES])
@pytest.mark.parametrize("source", ["chinesecalendar", "loaded"])
def test_acceptance_case(case: dict, source: str) -> None:
    calendar = WorkingDayCalendar({2020: _official_2020()} if source == "loaded" else {})
    deadline = working_day_deadline(datetime.fromisoformat(case["accepted_at"]), case["working_days"], calendar)
    assert calendar.source_of(2020) == source
    assert deadline.deadline_date == date.fromisoformat(case["deadline_date"])
    assert deadline.provisional is False
    assert deadline.working_days == case["working_days"]


def test_deadline_at_is_2400_shanghai() -> None:
    deadline = working_day_deadline(datetime(2020, 4, 30, 10, tzinfo=TZ), 5, WorkingDayCalendar())
    assert deadline == Deadline(date(2020, 5, 11), datetime(2020, 5, 12, tzinfo=TZ), False, 5)
    assert deadline.deadline_at.isoformat() == "2020-05-12T00:00:00+08:00"
    assert deadline.deadline_at.tzinfo == TZ


def test_2020_spring_festival_make_up_day_cancelled() -> None:
    # 2020-02-01 was announced as a make-up working Saturday, then cancelled (extended holiday).
    assert not WorkingDayCalendar().is_working_day(date(2020, 2, 1))


def test_acceptance_day_never_counts() -> None:
    calendar = WorkingDayCalendar()
    monday = datetime(2020, 3, 2, 8, tzinfo=TZ)
    assert working_day_deadline(monday, 1, calendar).deadline_date == date(2020, 3, 3)


def test_unloaded_2027_falls_back_to_weekdays_provisionally() -> None:
    calendar = WorkingDayCalendar()
    assert calendar.source_of(2027) == "weekdays"
    assert calendar.is_working_day(date(2027, 1, 1))  # a Friday: Mon–Fri guess, not the holiday
    deadline = working_day_deadline(datetime(2026, 12, 28, 9, tzinfo=TZ), 5, calendar)
    # Dec 29, 30, 31 (2026 data), then Fri 1 and Mon 4 January 2027 (Mon–Fri guess).
    assert (deadline.deadline_date, deadline.provisional) == (date(2027, 1, 4), True)


def test_deadline_within_known_year_is_not_provisional_near_year_end() -> None:
    deadline = working_day_deadline(datetime(2026, 12, 24, 9, tzinfo=TZ), 5, WorkingDayCalendar())
    assert (deadline.deadline_date, deadline.provisional) == (date(2026, 12, 31), False)


def test_years_before_the_package_data_fall_back_too() -> None:
    calendar = WorkingDayCalendar()
    assert calendar.source_of(2003) == "weekdays"
    assert calendar.add_working_days(date(2003, 5, 1), 1) == (date(2003, 5, 2), True)


def test_loaded_2027_takes_precedence() -> None:
    calendar = WorkingDayCalendar({2027: ARRANGEMENT_2027})
    assert calendar.source_of(2027) == "loaded"
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 2, 7))  # a Sunday
    deadline = working_day_deadline(datetime(2026, 12, 28, 9, tzinfo=TZ), 5, calendar)
    assert (deadline.deadline_date, deadline.provisional) == (date(2027, 1, 5), False)


def test_loaded_2020_overrides_chinesecalendar() -> None:
    plain_2020 = validate_arrangement(2020, [], [])  # pretend 2020 had no holidays at all
    calendar = WorkingDayCalendar({2020: plain_2020})
    assert calendar.source_of(2020) == "loaded"
    assert calendar.source_of(2021) == "chinesecalendar"
    deadline = working_day_deadline(datetime(2020, 4, 30, 10, tzinfo=TZ), 5, calendar)
    assert (deadline.deadline_date, deadline.provisional) == (date(2020, 5, 7), False)


def test_timezone_conversion_and_naive_refused() -> None:
    calendar = WorkingDayCalendar()
    late_utc = datetime(2020, 3, 5, 20, tzinfo=UTC)  # Friday 04:00 in Shanghai
    assert working_day_deadline(late_utc, 5, calendar).deadline_date == date(2020, 3, 13)
    with pytest.raises(ValueError, match="aware"):
        working_day_deadline(datetime(2020, 3, 5, 20), 5, calendar)


@pytest.mark.parametrize("n", [0, -1, True])
def test_working_days_must_be_positive(n: int) -> None:
    with pytest.raises(ValueError):
        working_day_deadline(datetime(2020, 3, 5, tzinfo=TZ), n, WorkingDayCalendar())
    with pytest.raises(ValueError):
        WorkingDayCalendar().add_working_days(date(2020, 3, 5), n)


@pytest.mark.parametrize(
    ("holidays", "workdays", "code"),
    [
        ({date(2026, 12, 31)}, set(), "wrong_year"),
        (set(), {date(2028, 1, 1)}, "wrong_year"),
        ({date(2027, 1, 2)}, set(), "holiday_on_weekend"),  # a Saturday
        (set(), {date(2027, 1, 4)}, "workday_on_weekday"),  # a Monday
        ({date(2027, 1, 4)}, {date(2027, 1, 4)}, "overlap"),
    ],
)
def test_validate_arrangement_refuses(holidays: set, workdays: set, code: str) -> None:
    with pytest.raises(CalendarError) as info:
        validate_arrangement(2027, holidays, workdays)
    assert info.value.code == code


def test_calendar_refuses_mismatched_year_key() -> None:
    with pytest.raises(CalendarError) as info:
        WorkingDayCalendar({2028: ARRANGEMENT_2027})
    assert info.value.code == "wrong_year"


def test_years_spanned() -> None:
    assert years_spanned(date(2026, 12, 28), date(2027, 1, 4)) == {2026, 2027}
    assert years_spanned(date(2020, 5, 1), date(2020, 5, 11)) == {2020}
    with pytest.raises(ValueError):
        years_spanned(date(2020, 5, 2), date(2020, 5, 1))


zones = st.sampled_from([TZ, UTC, timezone(timedelta(hours=-10)), timezone(timedelta(hours=14))])
acceptances = st.datetimes(min_value=datetime(2002, 1, 1), max_value=datetime(2029, 12, 31), timezones=zones)
CALENDARS = [WorkingDayCalendar(), WorkingDayCalendar({2027: ARRANGEMENT_2027, 2020: validate_arrangement(2020, [], [])})]


@given(acceptances, st.integers(min_value=1, max_value=40), st.sampled_from(CALENDARS))
def test_deadline_properties(accepted_at: datetime, n: int, calendar: WorkingDayCalendar) -> None:
    deadline = working_day_deadline(accepted_at, n, calendar)
    local_date = accepted_at.astimezone(TZ).date()
    assert deadline.deadline_date > local_date
    assert deadline.deadline_at > accepted_at
    assert calendar.is_working_day(deadline.deadline_date)
    later = working_day_deadline(accepted_at, n + 1, calendar)
    assert later.deadline_date > deadline.deadline_date
    # Provisional exactly when a Mon–Fri fallback year lies between acceptance and deadline.
    fallback = {y for y in years_spanned(local_date + timedelta(days=1), deadline.deadline_date)
                if calendar.source_of(y) == "weekdays"}
    assert deadline.provisional == bool(fallback)


@pytest.mark.parametrize(
    "accepted_at",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8))),  # minus 8 h is year 0: overflowed
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=8))),
        datetime(1900, 6, 1, tzinfo=TZ),  # Asia/Shanghai's local mean time (+08:05)
        datetime(2200, 12, 31, 16, tzinfo=UTC),  # 2201-01-01 00:00 in Shanghai
    ],
)
def test_deadline_outside_the_calendar_is_out_of_range(accepted_at: datetime) -> None:
    with pytest.raises(Problem) as info:
        working_day_deadline(accepted_at, 5, WorkingDayCalendar())
    assert (info.value.status, info.value.code) == (422, "out_of_range")


def test_counting_past_the_last_day_is_out_of_range() -> None:
    calendar = WorkingDayCalendar()
    # 2200-12-31 is a Wednesday: one working day is left, the second would fall in 2201.
    assert calendar.add_working_days(date(2200, 12, 30), 1) == (date(2200, 12, 31), True)
    for start, n in ((date(2200, 12, 30), 2), (date(9999, 12, 31), 1), (date(1, 1, 1), 1)):
        with pytest.raises(Problem) as info:
            calendar.add_working_days(start, n)
        assert info.value.code == "out_of_range"
    with pytest.raises(Problem):
        calendar.is_working_day(date(1900, 12, 31))
    assert calendar.is_working_day(date(1901, 1, 1))  # a Tuesday, the first day counted


def test_deadline_at_the_edges_of_the_calendar() -> None:
    first = working_day_deadline(datetime(1901, 1, 1, tzinfo=TZ), 1, WorkingDayCalendar())
    assert first.deadline_date == date(1901, 1, 2)
    assert first.deadline_at.utcoffset() == timedelta(hours=8)  # not the LMT +08:05
