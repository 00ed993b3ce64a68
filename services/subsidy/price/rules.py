"""Price-linked temporary subsidy (价格临时补贴): pure rules R-PS-1..3. No I/O, Decimal money."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from shared.money import round_fen

HUNDRED = Decimal(100)

Trigger = Literal["cpi", "food_cpi"]


@dataclass(frozen=True)
class PriceParams:
    """Parameters in force for the month: ``dibao_standard`` (yuan/month), ``cpi_trigger`` and
    ``food_cpi_trigger`` (% year on year), ``multiplier`` (2 in March–June 2020), ``min_amount``
    (yuan) and ``categories`` (who is covered that month)."""

    dibao_standard: Decimal
    cpi_trigger: Decimal
    food_cpi_trigger: Decimal
    multiplier: Decimal
    min_amount: Decimal
    categories: tuple[str, ...]


@dataclass(frozen=True)
class PriceResult:
    """The month's verdict: ``triggered`` (and by which indices), ``base_amount`` (standard × CPI
    rise, rounded half-up to the fen), ``amount_per_person`` (after the multiplier and the
    floor; 0.00 when not triggered) and ``covers`` (categories paid; empty when not triggered)."""

    triggered: bool
    triggered_by: tuple[Trigger, ...]
    base_amount: Decimal
    amount_per_person: Decimal
    covers: tuple[str, ...]


def triggered_by(cpi_yoy_pct: Decimal, food_cpi_yoy_pct: Decimal, params: PriceParams) -> tuple[Trigger, ...]:
    """R-PS-1: the indices that reach their trigger (≥) — CPI ≥ 3.5 or food CPI ≥ 6 by default."""
    found: list[Trigger] = []
    if cpi_yoy_pct >= params.cpi_trigger:
        found.append("cpi")
    if food_cpi_yoy_pct >= params.food_cpi_trigger:
        found.append("food_cpi")
    return tuple(found)


def price_subsidy(cpi_yoy_pct: Decimal, food_cpi_yoy_pct: Decimal, params: PriceParams) -> PriceResult:
    """R-PS-1/2: whether the month triggers, and the monthly amount per person.

    Amount = monthly dibao standard × CPI year-on-year rise (the all-items CPI, even when the food
    index is what triggered), rounded half-up to the fen, then × ``multiplier`` (2 in
    March–June 2020), and never below ``min_amount``. ``720 × 4.3% = 30.96``, doubled 61.92.
    """
    by = triggered_by(cpi_yoy_pct, food_cpi_yoy_pct, params)
    base = round_fen(params.dibao_standard * cpi_yoy_pct / HUNDRED)
    if not by:
        return PriceResult(False, (), base, Decimal("0.00"), ())
    amount = max(round_fen(base * params.multiplier), params.min_amount, Decimal("0.00"))
    return PriceResult(True, by, base, round_fen(amount), params.categories)


def payments_for_person(person_categories: Iterable[str], result: PriceResult) -> int:
    """R-PS-3: one payment per person per month whatever the number of categories (0 or 1)."""
    return 1 if result.triggered and set(person_categories) & set(result.covers) else 0
