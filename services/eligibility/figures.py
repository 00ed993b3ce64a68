"""Exact arithmetic helpers shared by the eligibility rules: months, fractions, fen rounding.

Money enters as ``Decimal`` (whole fen) and is carried as :class:`fractions.Fraction` through a
computation, so a division by 12 or by the number of members loses nothing; only a final amount is
rounded, half-up to the fen (R-DB-4), by :func:`fen_half_up` — the one rounding function every
rule and the set-based SQL recalculation (``round_half_up_fen_sql``) agree with.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from shared.clock import SHANGHAI

Exact = Decimal | Fraction | int

ZERO = Fraction(0)


def exact(value: Exact) -> Fraction:
    """``value`` as an exact Fraction (a Decimal converts without loss). Refuses float."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("money is never float")
    if isinstance(value, Fraction):
        return value
    return Fraction(value)


def fen_half_up(value: Exact) -> Decimal:
    """``value`` yuan rounded half-up (away from zero at the half) to the fen, two places.

    Exact for any rational input: 1326.58333… -> 1326.58, 0.005 -> 0.01, -0.005 -> -0.01.
    """
    frac = exact(value)
    sign = -1 if frac < 0 else 1
    scaled = abs(frac) * 100
    fen, remainder = divmod(scaled.numerator, scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        fen += 1
    result = Decimal(sign * fen).scaleb(-2)
    return result + 0 if result.is_zero() else result.quantize(Decimal("0.01"))


def show(value: Exact) -> str:
    """A figure for a trace: rounded half-up to the fen, as the API's ``"720.00"`` string."""
    return format(fen_half_up(value), "f")


def show_exact(value: Exact, places: int = 10) -> str:
    """An unrounded figure for a trace (``"1326.5833333333…"``): truncated to ``places`` decimals
    (at least two shown) and marked with ``…`` when it does not terminate there."""
    frac = exact(value)
    sign = "-" if frac < 0 else ""
    scaled = abs(frac) * 10**places
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    digits = Decimal(whole).scaleb(-places)
    text = format(digits.normalize(), "f") if whole else "0"
    integer, _, decimals = text.partition(".")
    decimals = decimals.ljust(2, "0")
    return f"{sign}{integer}.{decimals}" + ("…" if rest else "")


def ratio_text(value: Decimal) -> str:
    """A parameter ratio for a trace without trailing zeros: ``Decimal("1.5000")`` -> ``"1.5"``."""
    text = format(value.normalize(), "f")
    return text


# --- months -----------------------------------------------------------------------------------


def month_of(day: date) -> date:
    """The month containing ``day``, as its first day."""
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    """``month`` (a first day) plus ``n`` calendar months (negative allowed)."""
    index = month.year * 12 + (month.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> int:
    """Number of months from ``first`` to ``last`` inclusive (both first days); 0 if last < first."""
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return max(count, 0)


def month_text(month: date) -> str:
    """``date(2020, 6, 1)`` -> ``"2020-06"``."""
    return f"{month.year:04d}-{month.month:02d}"


def parse_month(text: str) -> date:
    """``"2020-06"`` -> ``date(2020, 6, 1)``; ValueError otherwise."""
    if len(text) != 7 or text[4] != "-":
        raise ValueError(f"not a month YYYY-MM: {text!r}")
    return date(int(text[:4]), int(text[5:7]), 1)


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai date of an aware instant (business dates are local)."""
    return moment.astimezone(SHANGHAI).date()


def age_on(birth: date, day: date) -> int:
    """Completed years of age on ``day`` (a 29 February birthday counts on 1 March)."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years
