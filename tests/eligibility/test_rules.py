"""Pure policy rules of the eligibility service (no I/O): figures from POLICY.md and the cases."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.eligibility.decisions import rules
from services.eligibility.figures import add_months, age_on, fen_half_up, months_between, show_exact
from services.eligibility.parameters.defaults import BY_NAME, SEED
from services.eligibility.parameters.rules import MissingParameter, Parameters, ParameterVersion
from shared.money import round_fen
from tests.conftest import load_cases

VERSIONS = [ParameterVersion(n, v, f, t, i, BY_NAME[n].unit) for i, (n, v, f, t) in enumerate(SEED, start=1)]
D2020 = date(2020, 6, 15)


def params(on: date = D2020, **overrides: str) -> Parameters:
    versions = [v for v in VERSIONS if v.name not in overrides]
    versions += [ParameterVersion(n, Decimal(x), date(2019, 1, 1), None, None, BY_NAME[n].unit) for n, x in overrides.items()]
    return Parameters(versions, on)


def dibao(members: int, income: str, on: date = D2020, **kwargs) -> rules.DibaoResult:  # noqa: ANN003
    return rules.assess_dibao(rules.DibaoInput(assessed_on=on, members=members, income_12m=Decimal(income), **kwargs), params(on))


# --- parameters -------------------------------------------------------------------------------


def test_standard_is_600_in_2019_and_720_from_2020() -> None:
    assert params(date(2019, 12, 31))["dibao_standard"] == Decimal("600.00")
    assert params(date(2020, 1, 1))["dibao_standard"] == Decimal("720.00")


def test_parameters_record_the_versions_read() -> None:
    p = params(date(2020, 3, 1))
    p["dibao_standard"]
    p["edge_factor"]
    used = p.used()
    assert [u["version"] for u in used] == ["dibao_standard@2020-01-01", "edge_factor@2019-01-01"]
    assert used[0]["value"] == "720.00" and used[1]["value"] == "1.5"


def test_no_version_before_2019_is_an_error() -> None:
    with pytest.raises(MissingParameter):
        params(date(2018, 12, 31))["dibao_standard"]


# --- R-DB-2..6 --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", load_cases("dibao.json"), ids=lambda c: f"{c['rule']}:{c['members']}:{c['income_12m']}")
def test_dibao_acceptance_cases_by_the_rule(case: dict) -> None:
    on = date.fromisoformat(case["assessed_on"])
    conditions = tuple(
        rules.MemberCondition(m.get("disability_grade"), m.get("disability_kind"), m.get("serious_illness", False), Decimal(m.get("own_income_12m", "0")))
        for m in case.get("member_conditions", [])
    )
    result = rules.assess_dibao(rules.DibaoInput(
        assessed_on=on, members=case["members"], income_12m=Decimal(case["income_12m"]),
        deductions_12m={k: Decimal(v) for k, v in case["deductions_12m"].items()}, member_conditions=conditions,
    ), params(on))
    assert result.eligible is case["eligible"]
    assert format(result.monthly_benefit, "f") == case["monthly_benefit"]
    if "per_capita_monthly" in case:
        assert format(result.per_capita_monthly, "f") == case["per_capita_monthly"]
    assert result.single_person_inclusion is case.get("single_person_inclusion", False)


def test_benefit_rounds_only_the_final_amount() -> None:
    # 2160 - 10001/12 = 1326.58333…: rounding the per-capita first (277.81 x 3 = 833.43) would give 1326.57.
    result = dibao(3, "10001.00")
    assert result.monthly_benefit == Decimal("1326.58")
    assert result.figures["benefit_unrounded"] == "1326.5833333333…"
    assert result.rules == ("R-DB-1", "R-DB-2", "R-DB-3", "R-DB-4")
    assert [p["version"] for p in result.parameters] == ["dibao_standard@2020-01-01", "asset_limit_months@2019-01-01"]


def test_deductions_are_the_seed_list_plus_employment_costs() -> None:
    result = dibao(3, "18000.00", deductions_12m={"medical": Decimal("3600"), "employment_cost": Decimal("1200")})
    assert result.monthly_benefit == Decimal("1060.00")
    assert result.figures["net_income_12m"] == "13200.00"
    with pytest.raises(ValueError):
        dibao(3, "18000.00", deductions_12m={"disaster": Decimal("10")})  # 因灾 is not deductible for dibao


def test_asset_test_above_24_months_of_standard_fails() -> None:
    ok = dibao(2, "0", financial_assets=Decimal("34560.00"))  # 17280 per head = 24 x 720
    over = dibao(2, "0", financial_assets=Decimal("34560.02"))
    assert ok.eligible and ok.monthly_benefit == Decimal("1440.00")
    assert not over.eligible and over.reasons == ("financial_assets_above_limit",) and over.monthly_benefit == Decimal("0.00")
    assert not dibao(2, "0", disqualifying_assets=("commercial_property",)).eligible


def test_single_person_inclusion_bases_and_own_income() -> None:
    conditions = (
        rules.MemberCondition(3, "mental", own_income_12m=Decimal("1200")),  # grade 3 mental: qualifies, 720 - 100
        rules.MemberCondition(3, "physical"),  # grade 3 physical: does not
        rules.MemberCondition(None, None, serious_illness=True, own_income_12m=Decimal("9000")),  # 720 - 750 < 0: no
    )
    result = dibao(4, "40000.00", member_conditions=conditions)
    assert result.outcome == "single_person_inclusion"
    assert [(s.index, s.basis, s.monthly_benefit) for s in result.single_person_benefits] == [(0, "disability_grade_3_mental", Decimal("620.00"))]
    assert result.monthly_benefit == Decimal("620.00")


def test_single_person_inclusion_only_in_the_edge_band() -> None:
    condition = (rules.MemberCondition(1, "physical"),)
    assert dibao(4, "51840.00", member_conditions=condition).single_person_inclusion is False  # 1080 = 1.5 x 720: not below
    assert dibao(4, "51839.00", member_conditions=condition).single_person_inclusion is True
    assert dibao(4, "20000.00", member_conditions=condition).outcome == "eligible"  # the household itself is covered


def test_gradual_exit_keeps_previous_benefit_12_months_for_registered_poor() -> None:
    result = dibao(2, "20000.00", registered_poor=True, previous_benefit=Decimal("400.00"))
    assert result.outcome == "gradual_exit" and not result.eligible
    assert result.monthly_benefit == Decimal("400.00")
    assert result.gradual_exit_last_month == date(2021, 6, 1)  # the 12 calendar months after June 2020
    assert "R-DB-6" in result.rules


def test_other_households_exit_at_once() -> None:
    result = dibao(2, "20000.00", registered_poor=False, previous_benefit=Decimal("400.00"))
    assert result.outcome == "exit" and result.monthly_benefit == Decimal("0.00")
    assert result.exit_last_month == date(2020, 6, 1)


def test_members_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        dibao(0, "100")


# --- property tests of the benefit arithmetic (R-DB-4) -------------------------------------------

money = st.integers(min_value=0, max_value=10**11).map(lambda fen: Decimal(fen).scaleb(-2))


@settings(max_examples=400, deadline=None)
@given(members=st.integers(1, 12), income=money, medical=money, on=st.sampled_from([date(2019, 6, 1), date(2020, 6, 1)]))
def test_benefit_is_exact_never_negative_and_rounded_half_up(members: int, income: Decimal, medical: Decimal, on: date) -> None:
    result = dibao(members, str(income), on=on, deductions_12m={"medical": medical})
    standard = Decimal("600") if on.year == 2019 else Decimal("720")
    net = max(income - medical, Decimal(0))
    exact = Fraction(standard) * members - Fraction(net) / 12
    assert result.monthly_benefit >= 0
    assert result.monthly_benefit.as_tuple().exponent == -2
    if result.eligible:
        assert exact > 0
        assert result.monthly_benefit == fen_half_up(exact)
        # the same rounding as shared.money's ROUND_HALF_UP on a Decimal carried at high precision
        from decimal import localcontext

        with localcontext() as ctx:
            ctx.prec = 60
            assert result.monthly_benefit == round_fen(standard * members - net / 12)
        assert result.monthly_benefit == rules.recalculated_amount(standard, members, net)
    else:
        assert Fraction(net) / 12 / members >= standard
        assert result.monthly_benefit == Decimal("0.00")


@given(st.fractions(min_value=-10**6, max_value=10**6))
def test_fen_half_up_matches_round_half_up(value: Fraction) -> None:
    scaled = abs(value) * 100
    lower = scaled.numerator // scaled.denominator
    expected = lower + (1 if scaled - lower >= Fraction(1, 2) else 0)
    assert fen_half_up(value) == (Decimal(expected).scaleb(-2) * (-1 if value < 0 else 1)).quantize(Decimal("0.01")) + 0


@given(money, st.integers(1, 12))
def test_per_capita_display_is_rounded_for_display_only(income: Decimal, members: int) -> None:
    result = dibao(members, str(income))
    assert result.per_capita_monthly == fen_half_up(Fraction(income) / 12 / members)
    assert result.per_capita_exact == Fraction(income) / 12 / members


# --- R-TK-1 -----------------------------------------------------------------------------------


def tekun(birth: date, **kwargs) -> rules.TekunResult:  # noqa: ANN003
    return rules.assess_tekun(rules.TekunInput(assessed_on=D2020, birth_date=birth, **kwargs), params())


def test_tekun_elderly_without_income_or_supporter() -> None:
    result = tekun(date(1950, 6, 15))
    assert result.eligible and result.incapacity == ("aged",)
    assert result.monthly_basic_living == Decimal("936.00")  # 1.3 x 720 (R-TK-2)
    assert result.support_until is None


def test_tekun_age_boundaries() -> None:
    assert tekun(date(1960, 6, 16)).eligible is False  # 59 the day before the birthday
    assert tekun(date(1960, 6, 15)).eligible is True
    child = tekun(date(2004, 6, 16))  # 15
    assert child.eligible and child.support_until == date(2022, 6, 16)
    assert tekun(date(2004, 6, 15)).eligible is False  # 16, not yet tekun


def test_tekun_minor_keeps_support_until_18_and_in_school() -> None:
    assert tekun(date(2003, 1, 1), currently_tekun=True).eligible  # 17
    assert not tekun(date(2002, 1, 1), currently_tekun=True).eligible  # 18, not in school
    assert tekun(date(2002, 1, 1), currently_tekun=True, school_enrolment="high_school").eligible
    assert not tekun(date(2002, 1, 1), currently_tekun=True, school_enrolment="higher").eligible


@pytest.mark.parametrize(("grade", "kind", "eligible"), [
    (3, "intellectual", True), (3, "mental", True), (4, "mental", False), (2, "physical", True),
    (3, "physical", False), (1, "visual", True), (2, "visual", False), (1, "hearing", False),
])
def test_tekun_disability_grounds(grade: int, kind: str, eligible: bool) -> None:
    assert tekun(date(1980, 1, 1), disability_grade=grade, disability_kind=kind).eligible is eligible


def test_tekun_refused_with_income_or_able_supporter_or_orphan_choice() -> None:
    born = date(1950, 1, 1)
    assert tekun(born, own_income_12m=Decimal("8640.00")).reasons == ("income_source",)  # 720/month is not below 720
    assert tekun(born, own_income_12m=Decimal("8639.88")).eligible
    assert tekun(born, supporters=(rules.Supporter("son", True),)).reasons == ("able_supporter",)
    assert tekun(born, supporters=(rules.Supporter("son", False),)).eligible
    assert tekun(date(2010, 1, 1), chose_orphan_allowance=True).reasons == ("chose_orphan_allowance",)


# --- R-OR-2 -----------------------------------------------------------------------------------


def child(*parents: rules.Parent, birth: date = date(2012, 1, 1), **kwargs) -> rules.ChildResult:  # noqa: ANN003
    return rules.assess_child(rules.ChildInput(assessed_on=D2020, birth_date=birth, parents=(parents[0], parents[1]), **kwargs), params())


P = rules.Parent


def test_child_categories() -> None:
    assert child(P("dead"), P("dead")).category == "orphan_dispersed"
    assert child(P("dead"), P("dead"), in_institution=True).category == "orphan_institutional"
    assert child(P("dead"), P("imprisoned")).category == "child_without_care"
    assert child(P("serious_illness"), P("compulsory_drug_rehab")).category == "child_without_care"
    assert child(P("severe_disability", disability_grade=3, disability_kind="mental"), P("deprived_of_liberty")).category == "child_without_care"
    assert child(P("severe_disability", disability_grade=3, disability_kind="physical"), P("dead")).category is None
    assert child(P("dead"), P("none")).category is None


def test_missing_counts_from_six_months() -> None:
    assert child(P("dead"), P("missing", missing_since=date(2019, 12, 15))).category == "child_without_care"
    assert child(P("dead"), P("missing", missing_since=date(2019, 12, 16))).category is None


def test_child_age_limit_and_school() -> None:
    assert child(P("dead"), P("dead"), birth=date(2002, 6, 15)).category is None
    assert child(P("dead"), P("dead"), birth=date(2002, 6, 15), school_enrolment="secondary_vocational").category == "orphan_dispersed"


# --- helpers ----------------------------------------------------------------------------------


def test_month_arithmetic_and_age() -> None:
    assert add_months(date(2020, 6, 1), 12) == date(2021, 6, 1)
    assert add_months(date(2020, 1, 1), -1) == date(2019, 12, 1)
    assert months_between(date(2019, 6, 1), date(2020, 5, 1)) == 12
    assert age_on(date(2000, 2, 29), date(2018, 2, 28)) == 17 and age_on(date(2000, 2, 29), date(2018, 3, 1)) == 18
    assert show_exact(Fraction(1, 3)) == "0.3333333333…" and show_exact(Decimal("720")) == "720.00"


def test_the_cases_file_is_what_the_rules_read() -> None:
    assert json.dumps(load_cases("dibao.json"))  # the handout is present and parses
