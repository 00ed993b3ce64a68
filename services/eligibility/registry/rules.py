"""Pure registry arithmetic: what part of a recorded income or expenditure falls in a window."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from fractions import Fraction

from services.eligibility.figures import ZERO, exact, months_between


def share_in_window(first: date, last: date, amount: Decimal, window_first: date, window_last: date) -> Fraction:
    """The part of ``amount``, spread evenly over months ``first`` .. ``last``, that falls in
    ``window_first`` .. ``window_last`` (all first days of months), exactly (R-DB-2's "income of
    the last 12 months" from entries over any period)."""
    span = months_between(first, last)
    if span == 0:
        return ZERO
    overlap = months_between(max(first, window_first), min(last, window_last))
    if overlap == 0:
        return ZERO
    return exact(amount) * overlap / span


def window_total(entries: Iterable[tuple[date, date, Decimal]], window_first: date, window_last: date) -> Fraction:
    """Sum of :func:`share_in_window` over ``(first, last, amount)`` entries."""
    return sum((share_in_window(f, l, a, window_first, window_last) for f, l, a in entries), ZERO)
