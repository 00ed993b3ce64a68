"""R-RM-1..5 as pure functions, and the registry's window arithmetic."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.monitoring import rules
from services.eligibility.registry.rules import share_in_window, window_total
from tests.eligibility.test_rules import params

ON = date(2020, 6, 15)


def evaluate(**kwargs) -> rules.MonitoringResult:  # noqa: ANN003
    base = dict(assessed_on=ON, members=2, income_12m=Decimal("40000"), income_prev_12m=Decimal("40000"), income_prev_year=Decimal("40000"))
    base.update(kwargs)
    return rules.evaluate(rules.MonitoringInput(**base), params(ON))


def test_population_r_rm_1() -> None:
    assert evaluate().monitored is False
    assert evaluate(ex_poor=True).population == ("ex_poor",)
    assert evaluate(edge=True, department_data=True).population == ("edge", "department_data")


def test_expenditure_shock_is_strictly_above_last_years_income() -> None:
    at = evaluate(rigid_expenditure_12m={"medical": Decimal("30000"), "disaster": Decimal("10000")})
    over = evaluate(rigid_expenditure_12m={"medical": Decimal("30000"), "epidemic": Decimal("10000.01")})
    assert "expenditure_shock" not in at.codes
    assert "expenditure_shock" in over.codes
    flag = next(f for f in over.flags if f.code == "expenditure_shock")
    assert flag.rule == "R-RM-2" and flag.figures["excess"] == "0.01" and flag.figures["threshold"] == "40000.00"


def test_income_shock_at_half() -> None:
    assert "income_shock" in evaluate(income_12m=Decimal("20000")).codes
    assert "income_shock" not in evaluate(income_12m=Decimal("20000.01")).codes
    assert "income_shock" not in evaluate(income_12m=Decimal("0"), income_prev_12m=Decimal("0")).codes


def test_low_income_below_one_and_a_half_standards() -> None:
    # 1080 a head a month is the line (1.5 x 720): 2 x 1080 x 12 = 25920
    assert "low_income" not in evaluate(income_12m=Decimal("25920")).codes
    low = evaluate(income_12m=Decimal("25919.99"), income_prev_12m=Decimal("25919.99"))
    assert low.codes == ("low_income",)
    assert low.flags[0].figures == {"per_capita_monthly": "1080.00", "monitoring_line": "1080.00", "dibao_standard": "720.00"}


def test_referrals_r_rm_5() -> None:
    shock = evaluate(ex_poor=True, rigid_expenditure_12m={"medical": Decimal("52000")})
    assert [(r.kind, r.reasons, r.suggested_amount) for r in shock.referrals] == [
        ("assessment", ("expenditure_shock",), None),
        ("expenditure_relief", ("expenditure_shock",), Decimal("5000.00")),  # excess 12000, capped
    ]
    covered = evaluate(ex_poor=True, covered=True, rigid_expenditure_12m={"medical": Decimal("41000")})
    assert [(r.kind, r.suggested_amount) for r in covered.referrals] == [("expenditure_relief", Decimal("1000.00"))]
    assert evaluate(ex_poor=True).referrals == ()


def test_window_share_is_exact() -> None:
    june, may = date(2019, 6, 1), date(2020, 5, 1)
    assert share_in_window(june, may, Decimal("12000"), june, may) == 12000
    assert share_in_window(date(2019, 1, 1), date(2019, 12, 1), Decimal("1000"), june, may) == Fraction(7000, 12)
    assert share_in_window(date(2018, 1, 1), date(2018, 12, 1), Decimal("1000"), june, may) == 0
    assert window_total([(june, may, Decimal("1")), (june, june, Decimal("2"))], june, may) == 3


@given(st.integers(1, 36), st.integers(-40, 40), st.integers(0, 10**9))
def test_windows_partition_an_amount(span: int, offset: int, fen: int) -> None:
    from services.eligibility.figures import add_months

    first = add_months(date(2020, 1, 1), offset)
    last = add_months(first, span - 1)
    amount = Decimal(fen).scaleb(-2)
    # every month taken one by one adds up to the whole amount, exactly
    months = [add_months(first, i) for i in range(span)]
    assert sum((share_in_window(first, last, amount, m, m) for m in months), Fraction(0)) == Fraction(amount)
