"""R-TK-3 allocation priority and the centralized rate: pure rules."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.care.placement import rules
from services.care.placement.rules import Candidate, HomeBeds

T1, T2 = "350505100", "350505101"


def cand(ref: str, level: str | None, *, willing: bool = True, town: str = T1, assessed: date | None = date(2020, 3, 1),
         requested: date = date(2020, 4, 1), preferred: str | None = None) -> Candidate:
    return Candidate(ref, level, willing, town, assessed, requested, preferred)


def test_fewer_beds_than_candidates_follow_the_priority() -> None:
    candidates = [
        cand("self", "self_care", assessed=date(2020, 1, 1)),
        cand("partial", "partial_loss", assessed=date(2020, 1, 1)),
        cand("full-late", "full_loss", assessed=date(2020, 5, 1)),
        cand("full-early", "full_loss", assessed=date(2020, 2, 1)),
        cand("unwilling", "full_loss", willing=False, assessed=date(2019, 1, 1)),
        cand("unassessed", None, assessed=None),
    ]
    homes = [HomeBeds("h", T1, free_nursing=1, free_ordinary=1)]
    result = rules.allocate(candidates, homes)
    assert [(a.ref, a.bed_type, a.priority) for a in result.assignments] == [
        ("full-early", "nursing", 1),
        ("partial", "ordinary", 3),
    ]
    assert [(w.ref, w.position) for w in result.waiting] == [("full-late", 1), ("self", 2)]
    assert {(e.ref, e.reason) for e in result.excluded} == {("unwilling", "not_willing"), ("unassessed", "not_assessed")}
    # the input home is not changed
    assert homes[0].free_nursing == 1


def test_full_loss_needs_a_nursing_bed_partial_loss_may_take_one() -> None:
    result = rules.allocate(
        [cand("full", "full_loss"), cand("partial", "partial_loss")],
        [HomeBeds("h", T1, free_nursing=1, free_ordinary=0)],
    )
    assert [(a.ref, a.bed_type) for a in result.assignments] == [("full", "nursing")]
    assert [w.ref for w in result.waiting] == ["partial"]

    result = rules.allocate([cand("partial", "partial_loss")], [HomeBeds("h", T1, free_nursing=1, free_ordinary=0)])
    assert [(a.ref, a.bed_type) for a in result.assignments] == [("partial", "nursing")]

    result = rules.allocate([cand("full", "full_loss")], [HomeBeds("h", T1, free_nursing=0, free_ordinary=5)])
    assert result.assignments == [] and [w.ref for w in result.waiting] == ["full"]


def test_ties_break_on_assessment_date_then_request_date_then_ref() -> None:
    candidates = [
        cand("b", "full_loss", assessed=date(2020, 3, 1), requested=date(2020, 4, 2)),
        cand("a", "full_loss", assessed=date(2020, 3, 1), requested=date(2020, 4, 2)),
        cand("c", "full_loss", assessed=date(2020, 3, 1), requested=date(2020, 4, 1)),
        cand("d", "full_loss", assessed=date(2020, 2, 28), requested=date(2020, 5, 1)),
    ]
    placeable, _ = rules.order_candidates(candidates)
    assert [c.ref for c in placeable] == ["d", "c", "a", "b"]


def test_home_choice_preferred_then_own_town_then_others() -> None:
    homes = [HomeBeds("far", T2, 1, 1), HomeBeds("near", T1, 1, 1), HomeBeds("wish", T2, 1, 1)]
    result = rules.allocate([cand("x", "full_loss", preferred="wish")], homes)
    assert result.assignments[0].home == "wish"
    result = rules.allocate([cand("x", "full_loss")], homes)
    assert result.assignments[0].home == "near"
    result = rules.allocate([cand("x", "full_loss", town=T2)], homes)
    assert result.assignments[0].home == "far"


@pytest.mark.parametrize(
    ("full", "placed", "rate", "met"),
    [(0, 0, None, None), (2, 1, Decimal("0.5000"), True), (3, 1, Decimal("0.3333"), False), (3, 2, Decimal("0.6667"), True),
     (7, 3, Decimal("0.4286"), False), (10000, 4999, Decimal("0.4999"), False)],
)
def test_centralized_rate(full: int, placed: int, rate: Decimal | None, met: bool | None) -> None:
    assert rules.centralized_rate(full, placed) == rate
    assert rules.target_met(full, placed, Decimal("0.50")) is met


def test_target_is_compared_exactly_not_on_the_rounded_rate() -> None:
    # 9999/20000 = 0.49995 rounds to 0.5000 for display but does not reach 50%.
    assert rules.centralized_rate(20000, 9999) == Decimal("0.5000")
    assert rules.target_met(20000, 9999, Decimal("0.50")) is False


def test_rate_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        rules.centralized_rate(1, 2)


levels = st.sampled_from(["full_loss", "partial_loss", "self_care", None])
candidates_st = st.lists(
    st.builds(
        Candidate,
        ref=st.uuids().map(str),
        level=levels,
        willing=st.booleans(),
        town=st.sampled_from([T1, T2]),
        assessed_on=st.dates(date(2019, 1, 1), date(2020, 12, 31)),
        requested_on=st.dates(date(2019, 1, 1), date(2020, 12, 31)),
    ),
    max_size=30,
    unique_by=lambda c: c.ref,
)
homes_st = st.lists(
    st.builds(HomeBeds, ref=st.uuids().map(str), town=st.sampled_from([T1, T2]),
              free_nursing=st.integers(0, 4), free_ordinary=st.integers(0, 4)),
    max_size=4,
    unique_by=lambda h: h.ref,
)


@given(candidates_st, homes_st)
def test_allocation_properties(candidates: list[Candidate], homes: list[HomeBeds]) -> None:
    result = rules.allocate(candidates, homes)
    by_ref = {c.ref: c for c in candidates}
    # every candidate is accounted for exactly once
    refs = [a.ref for a in result.assignments] + [w.ref for w in result.waiting] + [e.ref for e in result.excluded]
    assert sorted(refs) == sorted(by_ref)
    # no home gives more beds of a type than it had free
    for home in homes:
        for bed in ("nursing", "ordinary"):
            used = sum(1 for a in result.assignments if a.home == home.ref and a.bed_type == bed)
            assert used <= home.free(bed)  # type: ignore[arg-type]
    # only willing, assessed persons are placed; full loss only in nursing beds
    for a in result.assignments:
        c = by_ref[a.ref]
        assert c.willing and c.level is not None
        assert a.bed_type in rules.BEDS_FOR_LEVEL[c.level]
    # nobody waiting outranks a person placed in a bed type the waiting one could have used
    for w in result.waiting:
        waiting = by_ref[w.ref]
        for a in result.assignments:
            placed = by_ref[a.ref]
            if a.bed_type in rules.BEDS_FOR_LEVEL[waiting.level or ""]:
                assert rules.priority_key(placed) < rules.priority_key(waiting)
