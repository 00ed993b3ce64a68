"""R-LB-1 left-behind criteria, R-TK-5 supervision periods, R-LB-4 pilot enrolment: pure rules."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.care.dispersed import rules as supervision
from services.care.leftbehind import rules as lb
from services.care.pilots import rules as pilots

CRITERIA = lb.Criteria(child_max_age=16, elderly_min_age=60, absence_months=6)
ON = date(2020, 6, 15)


def test_age_on_birthdays() -> None:
    assert lb.age_on(date(2004, 6, 15), ON) == 16
    assert lb.age_on(date(2004, 6, 16), ON) == 15
    assert lb.age_on(date(2004, 2, 29), date(2020, 2, 28)) == 15
    assert lb.age_on(date(2004, 2, 29), date(2020, 2, 29)) == 16


def test_child_criteria() -> None:
    facts = {"parents": "both_away", "absence_months": 6, "guardian": "grandparent"}
    ok = lb.check("child", sex="male", birth_date=date(2010, 1, 1), on=ON, facts=facts, criteria=CRITERIA)
    assert ok.met and ok.failures == [] and ok.trace["age"] == 10
    old = lb.check("child", sex="male", birth_date=date(2004, 6, 15), on=ON, facts=facts, criteria=CRITERIA)
    assert old.failures == ["too_old"]
    short = lb.check("child", sex="female", birth_date=date(2010, 1, 1), on=ON, facts={**facts, "absence_months": 5}, criteria=CRITERIA)
    assert short.failures == ["absence_too_short"]


def test_elderly_and_woman_criteria() -> None:
    young = lb.check("elderly", sex="male", birth_date=date(1960, 6, 16), on=ON,
                     facts={"children_away": True, "absence_months": 12}, criteria=CRITERIA)
    assert young.failures == ["too_young"]
    assert lb.check("elderly", sex="male", birth_date=date(1960, 6, 15), on=ON,
                    facts={"children_away": True, "absence_months": 12}, criteria=CRITERIA).met
    assert lb.check("elderly", sex="male", birth_date=date(1950, 1, 1), on=ON,
                    facts={"children_away": False, "absence_months": 12}, criteria=CRITERIA).failures == ["children_not_away"]
    man = lb.check("woman", sex="male", birth_date=date(1990, 1, 1), on=ON,
                   facts={"husband_away": True, "absence_months": 8}, criteria=CRITERIA)
    assert man.failures == ["not_female"]
    assert lb.check("woman", sex="female", birth_date=date(1990, 1, 1), on=ON,
                    facts={"husband_away": True, "absence_months": 8}, criteria=CRITERIA).met


def test_unknown_birth_date_fails() -> None:
    result = lb.check("elderly", sex="male", birth_date=None, on=ON, facts={"children_away": True, "absence_months": 7}, criteria=CRITERIA)
    assert result.failures == ["birth_date_unknown"]


@given(st.dates(date(1990, 1, 1), date(2030, 12, 31)), st.dates(date(2000, 1, 1), date(2050, 12, 31)), st.integers(10, 18))
def test_ageing_out_cutoff_agrees_with_the_birthday(birth: date, on: date, max_age: int) -> None:
    aged_out = lb.child_ages_out_on(birth, max_age) <= on
    assert aged_out == (birth <= lb.latest_birth_aged_out(on, max_age))
    # and with the age itself
    if birth <= on:
        assert aged_out == (lb.age_on(birth, on) >= max_age)


def test_supervision_periods_tile_the_year() -> None:
    assert supervision.period_of(date(2020, 5, 20), 3) == (date(2020, 4, 1), date(2020, 6, 30))
    assert supervision.period_of(date(2020, 12, 31), 6) == (date(2020, 7, 1), date(2020, 12, 31))
    assert supervision.period_of(date(2020, 2, 1), 1) == (date(2020, 2, 1), date(2020, 2, 29))
    with pytest.raises(ValueError):
        supervision.period_of(date(2020, 2, 1), 5)


def test_closed_periods_of_a_contract() -> None:
    closed = supervision.closed_periods(date(2020, 2, 10), None, date(2020, 7, 1), 3)
    assert closed == [(date(2020, 1, 1), date(2020, 3, 31)), (date(2020, 4, 1), date(2020, 6, 30))]
    assert supervision.closed_periods(date(2020, 2, 10), None, date(2020, 6, 30), 3) == [(date(2020, 1, 1), date(2020, 3, 31))]
    # an ended contract's last period closes with its period, not with the contract
    assert supervision.closed_periods(date(2020, 2, 10), date(2020, 5, 1), date(2020, 6, 30), 3) == [
        (date(2020, 1, 1), date(2020, 3, 31))
    ]


def test_period_status_and_missing_kinds() -> None:
    assert supervision.missing(["regular_visit"]) == ["duty_fulfilled", "service_quality"]
    assert supervision.period_status(date(2020, 3, 31), ["duty_fulfilled"], date(2020, 4, 1)) == {
        "duty_fulfilled": "done", "service_quality": "overdue", "regular_visit": "overdue"
    }
    assert supervision.period_status(date(2020, 3, 31), [], date(2020, 3, 31))["regular_visit"] == "pending"


@given(st.dates(date(2000, 1, 1), date(2090, 1, 1)), st.integers(0, 2000), st.sampled_from([1, 2, 3, 4, 6, 12]))
def test_periods_are_contiguous_and_cover_the_term(start: date, days: int, months: int) -> None:
    end = start + timedelta(days=days)
    ps = supervision.periods(start, end, months)
    assert ps[0][0] <= start <= ps[0][1]
    assert ps[-1][0] <= end <= ps[-1][1]
    for (s1, e1), (s2, _) in zip(ps, ps[1:]):
        assert s2 == e1 + timedelta(days=1)
        assert supervision.period_of(s1, months) == (s1, e1)


def test_pilot_enrolment_rules() -> None:
    facts = pilots.EnrolmentFacts(disability_grade=1, disability_kind="physical", in_registry=True, town="350505001", village=None)
    assert pilots.enrolment_failures("severe_disability_care", facts, area_town=None, area_village=None) == []
    assert pilots.enrolment_failures(
        "severe_disability_care",
        pilots.EnrolmentFacts(disability_grade=3, disability_kind="physical", in_registry=False, town="350505001", village=None),
        area_town=None, area_village=None,
    ) == ["not_severely_disabled", "not_in_registry"]
    assert pilots.enrolment_failures("mental_health_rehab", facts, area_town="350505001", area_village=None) == ["not_mental_disorder"]
    mental = pilots.EnrolmentFacts(disability_grade=2, disability_kind="mental", in_registry=False, town="350505100", village=None)
    assert pilots.enrolment_failures("mental_health_rehab", mental, area_town="350505001", area_village=None) == ["outside_area"]
