"""R-PS-1..3 pure rules: trigger, amount, doubling, one payment per person."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.subsidy.price.rules import PriceParams, payments_for_person, price_subsidy, triggered_by

BASE = ("dibao", "tekun", "revolutionary_veteran")
EXTENDED = (*BASE, "orphan", "child_without_care")


def params(standard="720.00", multiplier="1", categories=BASE, min_amount="0.00") -> PriceParams:
    return PriceParams(Decimal(standard), Decimal("3.5"), Decimal("6"), Decimal(multiplier), Decimal(min_amount), categories)


@pytest.mark.parametrize(
    ("cpi", "food", "expected"),
    [("3.5", "0", ("cpi",)), ("3.49", "5.99", ()), ("0", "6", ("food_cpi",)), ("4.3", "18.3", ("cpi", "food_cpi"))],
)
def test_trigger_reaches_threshold_inclusive(cpi, food, expected):
    assert triggered_by(Decimal(cpi), Decimal(food), params()) == expected


def test_march_2020_doubled():
    result = price_subsidy(Decimal("4.3"), Decimal("18.3"), params(multiplier="2", categories=EXTENDED))
    assert result.base_amount == Decimal("30.96")
    assert result.amount_per_person == Decimal("61.92")
    assert result.covers == EXTENDED


def test_food_trigger_pays_standard_times_cpi():
    result = price_subsidy(Decimal("2.7"), Decimal("13.2"), params())
    assert (result.triggered, result.triggered_by, result.amount_per_person) == (True, ("food_cpi",), Decimal("19.44"))


def test_not_triggered_pays_nothing_covers_nobody():
    result = price_subsidy(Decimal("-0.5"), Decimal("-2.0"), params())
    assert (result.triggered, result.amount_per_person, result.covers) == (False, Decimal("0.00"), ())


def test_rounding_half_up_before_doubling():
    # 600 × 1.7525% = 10.515 → 10.52 (half-up), doubled 21.04 (not 21.03 from doubling first)
    result = price_subsidy(Decimal("1.7525"), Decimal("6"), params(standard="600.00", multiplier="2"))
    assert result.base_amount == Decimal("10.52")
    assert result.amount_per_person == Decimal("21.04")


def test_negative_cpi_with_food_trigger_floors_at_min_amount():
    result = price_subsidy(Decimal("-1.0"), Decimal("7"), params(min_amount="5.00"))
    assert result.triggered and result.amount_per_person == Decimal("5.00")


def test_one_payment_per_person_whatever_the_categories():
    result = price_subsidy(Decimal("3.3"), Decimal("14.8"), params(multiplier="2", categories=EXTENDED))
    assert payments_for_person(["dibao", "revolutionary_veteran"], result) == 1
    assert payments_for_person(["orphan"], result) == 1
    assert payments_for_person([], result) == 0
    outside = price_subsidy(Decimal("3.3"), Decimal("14.8"), params())
    assert payments_for_person(["orphan"], outside) == 0


pct = st.decimals(min_value=-50, max_value=100, places=2)


@given(cpi=pct, food=pct, multiplier=st.sampled_from(["1", "2"]))
def test_amount_properties(cpi, food, multiplier):
    result = price_subsidy(cpi, food, params(multiplier=multiplier))
    assert result.amount_per_person >= 0
    assert result.amount_per_person.as_tuple().exponent == -2
    assert result.triggered == (cpi >= Decimal("3.5") or food >= 6)
    if result.triggered and cpi > 0:
        assert result.amount_per_person == max(result.base_amount * Decimal(multiplier), Decimal(0))
        # exact to the fen: within half a fen of the true figure, before the multiplier
        assert abs(result.base_amount - Decimal(720) * cpi / 100) <= Decimal("0.005")
    if not result.triggered:
        assert result.amount_per_person == 0


@given(categories=st.lists(st.sampled_from(EXTENDED), max_size=5))
def test_payments_are_zero_or_one(categories):
    result = price_subsidy(Decimal("5"), Decimal("0"), params(categories=EXTENDED))
    assert payments_for_person(categories, result) == (1 if categories else 0)
