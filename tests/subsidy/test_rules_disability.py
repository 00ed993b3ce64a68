"""R-DS-1/2 pure rules: who gets the living and the nursing subsidy."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.subsidy.disability.rules import (
    DisabilityParams,
    DisabilityPerson,
    is_long_term_care,
    paid_for_month,
    two_subsidies,
)

P = DisabilityParams(living=Decimal("80.00"), nursing={1: Decimal("100.00"), 2: Decimal("80.00")})
JUNE = date(2020, 6, 1)


def codes(result, subsidy):
    return [r.code for r in result.reasons if r.subsidy == subsidy]


def test_dibao_grade_2_long_term_gets_both():
    r = two_subsidies(DisabilityPerson(in_dibao=True, disability_grade=2, long_term_care=True), JUNE, P)
    assert (r.living, r.nursing) == (True, True)
    assert r.amounts == {"living": Decimal("80.00"), "nursing": Decimal("80.00")}
    assert r.reasons == ()


def test_grade_3_gets_living_only():
    r = two_subsidies(DisabilityPerson(in_dibao=True, disability_grade=3, long_term_care=False), JUNE, P)
    assert (r.living, r.nursing) == (True, False)
    assert codes(r, "nursing") == ["grade_not_severe", "no_long_term_care"]


def test_not_in_dibao_nursing_only():
    r = two_subsidies(DisabilityPerson(in_dibao=False, disability_grade=1, long_term_care=True), JUNE, P)
    assert (r.living, r.nursing) == (False, True)
    assert r.amounts["nursing"] == Decimal("100.00")
    assert codes(r, "living") == ["not_in_dibao"]


def test_tekun_and_work_injury_get_neither():
    for person in (
        DisabilityPerson(in_dibao=True, tekun=True, disability_grade=1, long_term_care=True),
        DisabilityPerson(in_dibao=True, work_injury_care_allowance=True, disability_grade=1, long_term_care=True),
    ):
        r = two_subsidies(person, JUNE, P)
        assert (r.living, r.nursing) == (False, False)
        assert r.amounts == {"living": Decimal("0.00"), "nursing": Decimal("0.00")}


def test_orphan_allowance_child_nursing_only():
    for flag in ("orphan_allowance", "child_without_care_allowance"):
        person = DisabilityPerson(in_dibao=True, disability_grade=1, long_term_care=True, **{flag: True})
        r = two_subsidies(person, JUNE, P)
        assert (r.living, r.nursing) == (False, True)
        assert codes(r, "living") == ["orphan_allowance"]


def test_no_payment_for_a_month_after_death_but_the_month_of_death_is_paid():
    dead = DisabilityPerson(in_dibao=True, disability_grade=2, long_term_care=True, deceased_on=date(2020, 5, 20))
    assert two_subsidies(dead, JUNE, P).living is False
    assert two_subsidies(dead, date(2020, 5, 1), P).living is True
    assert paid_for_month(date(2020, 6, 30), JUNE) and not paid_for_month(date(2020, 5, 31), JUNE)


def test_higher_same_kind_allowance_is_paid_instead():
    person = DisabilityPerson(in_dibao=True, disability_grade=1, long_term_care=True,
                              other_nursing_allowance=Decimal("150.00"), other_living_allowance=Decimal("50.00"))
    r = two_subsidies(person, JUNE, P)
    assert (r.living, r.nursing) == (True, False)
    assert codes(r, "nursing") == ["higher_same_kind_allowance"]


def test_long_term_care_is_six_months_or_more():
    assert is_long_term_care(6, 6) and not is_long_term_care(5, 6)


def test_every_reason_has_a_rule_and_message():
    r = two_subsidies(DisabilityPerson(in_dibao=False, disability_grade=None, long_term_care=False, tekun=True), JUNE, P)
    assert all(reason.rule.startswith("R-DS-") and reason.message for reason in r.reasons)


persons = st.builds(
    DisabilityPerson,
    in_dibao=st.booleans(), disability_grade=st.one_of(st.none(), st.integers(1, 4)), long_term_care=st.booleans(),
    tekun=st.booleans(), orphan_allowance=st.booleans(), work_injury_care_allowance=st.booleans(),
    deceased_on=st.one_of(st.none(), st.dates(date(2019, 1, 1), date(2021, 12, 31))),
)


@given(person=persons, month=st.dates(date(2019, 1, 1), date(2021, 12, 31)).map(lambda d: d.replace(day=1)))
def test_properties(person, month):
    r = two_subsidies(person, month, P)
    # a subsidy is payable exactly when no reason is given for it, and then it pays its amount
    assert r.living == (not codes(r, "living")) and r.nursing == (not codes(r, "nursing"))
    assert (r.amounts["living"] > 0) == r.living and (r.amounts["nursing"] > 0) == r.nursing
    if person.tekun or person.work_injury_care_allowance or not paid_for_month(person.deceased_on, month):
        assert not r.living and not r.nursing
    if r.nursing:
        assert person.disability_grade in (1, 2) and person.long_term_care
    if r.living:
        assert person.in_dibao and person.disability_grade is not None and not person.orphan_allowance
