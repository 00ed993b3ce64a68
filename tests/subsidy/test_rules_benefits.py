"""R-DB-4..6, R-TK-2/4, R-OR-1/2, R-OA-1 pure rules: monthly amounts."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.subsidy.benefits import rules

D = Decimal


def test_dibao_gap_rounds_only_the_final_amount():
    # 3 members at 720: 2160 − 10000/12 (833.333…) = 1326.666… → 1326.67
    assert rules.dibao_gap(standard=D("720"), members=3, net_income_12m=D("10000")) == D("1326.67")
    # half a fen rounds up: 720 − 0.18/12 = 719.985 → 719.99; 720 − 0.06/12 = 719.995 → 720.00
    assert rules.dibao_gap(standard=D("720"), members=1, net_income_12m=D("0.18")) == D("719.99")
    assert rules.dibao_gap(standard=D("720"), members=1, net_income_12m=D("0.06")) == D("720.00")


def test_dibao_gap_never_negative_and_single_person():
    assert rules.dibao_gap(standard=D("720"), members=1, net_income_12m=D("12000")) == D("0.00")
    assert rules.dibao_gap(standard=D("720"), members=1, net_income_12m=D("2400")) == D("520.00")


def test_implied_income_rebases_to_a_new_standard():
    income = rules.implied_net_income_12m(standard=D("600"), members=3, monthly_amount=D("1000.00"))
    assert income == D("9600.00")
    assert rules.dibao_gap(standard=D("720"), members=3, net_income_12m=income) == D("1360.00")  # +120 × 3


def test_gradual_exit_keeps_twelve_months_after_the_reassessment_month():
    assert rules.gradual_exit_last_month(reassessed_month=date(2020, 3, 1), months=12) == date(2021, 3, 1)
    assert rules.gradual_exit_last_month(reassessed_month=date(2020, 3, 1), months=0) is None


def test_tekun_basic_and_care_tier():
    tiers = {"self_care": D("100.00"), "partial_loss": D("400.00"), "full_loss": D("800.00")}
    amounts = rules.tekun_amounts(standard=D("720"), basic_factor=D("1.3"), care_tiers=tiers, level="full_loss")
    assert (amounts.basic, amounts.care, amounts.total) == (D("936.00"), D("800.00"), D("1736.00"))
    assert rules.tekun_amounts(standard=D("720"), basic_factor=D("1.3"), care_tiers=tiers, level=None).level == "self_care"


def test_centralized_support_district_pays_the_shortfall():
    fees = {"bed": D("400"), "living": D("1000"), "nursing_self_care": D("200"), "nursing_partial_loss": D("600"),
            "nursing_full_loss": D("1200")}
    r = rules.centralized_support_shortfall(fees=fees, level="full_loss", entitlements=D("1736.00"))
    assert (r.total, r.district_pays) == (D("2600"), D("864.00"))
    assert rules.centralized_support_shortfall(fees=fees, level="self_care", entitlements=D("5000")).district_pays == 0


def test_natural_growth_compounds_yearly_and_rounds_once():
    assert rules.grown_standard(base=D("900.00"), base_year=2020, rate=D("0.10"), year=2020) == D("900.00")
    assert rules.grown_standard(base=D("900.00"), base_year=2020, rate=D("0.10"), year=2022) == D("1089.00")
    assert rules.grown_standard(base=D("1100.00"), base_year=2020, rate=D("0.05"), year=2019) == D("1100.00")


def test_orphan_allowance_stops_after_18_unless_in_school():
    birth = date(2002, 6, 15)
    assert rules.orphan_allowance_due(birth_date=birth, month=date(2020, 6, 1), enrolment="none", adult_age=18)
    assert not rules.orphan_allowance_due(birth_date=birth, month=date(2020, 7, 1), enrolment="none", adult_age=18)
    assert rules.orphan_allowance_due(birth_date=birth, month=date(2020, 7, 1), enrolment="high_school", adult_age=18)
    assert rules.orphan_allowance_due(birth_date=birth, month=date(2020, 7, 1), enrolment="secondary_vocational", adult_age=18)


def test_child_without_care_top_up():
    assert rules.child_without_care_top_up(allowance=D("1100"), already_received=D("333.33")) == D("766.67")
    assert rules.child_without_care_top_up(allowance=D("1100"), already_received=D("1736")) == 0
    assert rules.dibao_share(household_amount=D("1000.00"), members=3) == D("333.33")


money = st.decimals(min_value=0, max_value=100000, places=2)


@given(standard=st.decimals(min_value=1, max_value=5000, places=2), members=st.integers(1, 12), income=money)
def test_dibao_gap_properties(standard, members, income):
    amount = rules.dibao_gap(standard=standard, members=members, net_income_12m=income)
    exact = standard * members - income / 12
    assert amount >= 0 and amount.as_tuple().exponent == -2
    assert amount == max(D(0), exact) if exact.as_tuple().exponent >= -2 else abs(amount - max(exact, D(0))) <= D("0.005")
    # rebasing: the amount implied by a decided amount is reproduced exactly at the same standard
    implied = rules.implied_net_income_12m(standard=standard, members=members, monthly_amount=amount)
    if exact >= 0:
        assert rules.dibao_gap(standard=standard, members=members, net_income_12m=implied) == amount


@given(base=st.decimals(min_value=1, max_value=5000, places=2), rate=st.decimals(min_value=0, max_value=1, places=2),
       years=st.integers(0, 10))
def test_growth_is_monotonic(base, rate, years):
    now = rules.grown_standard(base=base, base_year=2020, rate=rate, year=2020 + years)
    later = rules.grown_standard(base=base, base_year=2020, rate=rate, year=2021 + years)
    assert base <= now <= later
