"""Pure R-DB-8 rules: the person-month weighted per-capita monthly dibao benefit (人均补差) of a
span of months, its growth against the previous year (人均补差比增12%), and the coverage rate
(低保覆盖率 = dibao members / registered population).

A benefit's history is a list of :class:`Period` rows in the order they were recorded; a row
says what the benefit pays from ``from_month`` on, and a row recorded later wins for every month
from its own ``from_month`` (a retroactive change replaces what was recorded before). The
benefit pays nothing before its ``effective_month`` nor after its ``last_month``. The service
computes the same figures set-based in SQL (``kpis.service``); tests compare the two.

Every figure is exact (``Fraction``) until shown: per-capita amounts half-up to the fen
(``"312.45"``), ratios half-up to four places (``"1.2345"``), percentages to two (``"2.35"``). Whether
the target is met is decided on the exact ratio, never on the rounded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from services.eligibility.figures import Exact, exact, show

DIBAO_CATEGORIES = ("dibao", "dibao_single_person")


@dataclass(frozen=True)
class Period:
    """What a benefit pays from ``from_month`` (a first day) on: ``amount`` yuan a month for
    ``members`` persons, in ``town``."""

    from_month: date
    amount: Decimal
    members: int
    town: str = ""


@dataclass(frozen=True)
class Totals:
    """Σ amount × months (yuan) and Σ members × months (person-months) of some benefits."""

    amount_months: Fraction = Fraction(0)
    person_months: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.amount_months + other.amount_months, self.person_months + other.person_months)


def month_index(month: date) -> int:
    """A month as a number (``year × 12 + month``), consecutive across years."""
    return month.year * 12 + month.month


def period_in_force(periods: Sequence[Period], month: date, *, effective_month: date, last_month: date | None) -> Period | None:
    """The period paying ``month``: the one recorded last among those starting on or before it;
    None outside ``effective_month`` .. ``last_month`` or before the first period."""
    if month < effective_month or (last_month is not None and month > last_month):
        return None
    found = None
    for period in periods:  # in recording order: a later one wins
        if period.from_month <= month:
            found = period
    return found


def benefit_totals(
    periods: Sequence[Period], *, effective_month: date, last_month: date | None, first: date, last: date, town: str | None = None
) -> Totals:
    """R-DB-8: one benefit's Σ amount × months and Σ members × months over ``first`` .. ``last``
    (first days, inclusive), only the months paid in ``town`` when given."""
    amount, persons = Fraction(0), 0
    index, end = month_index(first), month_index(last)
    while index <= end:
        month = date((index - 1) // 12, (index - 1) % 12 + 1, 1)
        period = period_in_force(periods, month, effective_month=effective_month, last_month=last_month)
        if period is not None and (town is None or period.town == town):
            amount += exact(period.amount)
            persons += period.members
        index += 1
    return Totals(amount, persons)


def per_capita_benefit(totals: Totals) -> Fraction | None:
    """R-DB-8 average per-capita monthly benefit (人均月补差), weighted by person-months: Σ amount
    × months / Σ members × months — what was paid per person and month. None when nobody was
    paid. It lies between the smallest and the largest per-capita amount of the benefits paid."""
    if totals.person_months <= 0:
        return None
    return totals.amount_months / totals.person_months


def growth_ratio(current: Exact | None, previous: Exact | None) -> Fraction | None:
    """R-DB-8 growth: the year's per-capita benefit over the previous year's (exact); None when
    either is missing or the previous one is zero."""
    if current is None or previous is None or exact(previous) == 0:
        return None
    return exact(current) / exact(previous)


def meets_target(ratio: Fraction | None, target: Decimal) -> bool | None:
    """R-DB-8: the ratio reaches ``target`` (1.12) — exactly, not after rounding; None without a
    ratio."""
    return None if ratio is None else ratio >= exact(target)


def half_up(value: Exact, places: int) -> str:
    """``value`` rounded half-up (away from zero at the half) to ``places`` decimals, as text."""
    frac = exact(value)
    sign = "-" if frac < 0 else ""
    scaled = abs(frac) * 10**places
    whole, remainder = divmod(scaled.numerator, scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        whole += 1
    if whole == 0:
        sign = ""
    text = str(whole).rjust(places + 1, "0")
    return f"{sign}{text[:-places]}.{text[-places:]}" if places else f"{sign}{text}"


def ratio_text(ratio: Fraction | None) -> str | None:
    """A ratio as shown: four places, half-up (``"1.2345"``)."""
    return None if ratio is None else half_up(ratio, 4)


def yuan_text(value: Fraction | None) -> str | None:
    """A per-capita amount as shown: yuan to the fen, half-up (``"312.45"``)."""
    return None if value is None else show(value)


def coverage_rate(members: int, population: int | None) -> str | None:
    """R-DB-8 coverage (低保覆盖率): dibao members per 100 registered residents, two places
    half-up (``"2.35"``); None without a (positive) registered population."""
    if not population or population <= 0:
        return None
    return half_up(Fraction(members * 100, population), 2)
