"""Dispersed support of tekun persons (分散供养): care contracts and their supervision, pure policy.

R-TK-5: the government buys care for dispersed tekun persons under contracts with care
institutions and supervises three things each period (三个"监管到位"): the entrusted care duty is
fulfilled (委托照护责任落实), the service standard and quality (服务标准及服务质量), and regular visits
and care (定期探访和关爱帮扶). A period is ``supervision_period_months`` long (aligned on January);
a supervision missing when its period has ended is overdue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal

RULE = "R-TK-5"
Kind = Literal["duty_fulfilled", "service_quality", "regular_visit"]
KINDS: dict[str, str] = {
    "duty_fulfilled": "委托照护责任落实",
    "service_quality": "服务标准及服务质量",
    "regular_visit": "定期探访和关爱帮扶",
}


def _check_months(months: int) -> None:
    if months < 1 or 12 % months != 0:
        raise ValueError("a period must be 1, 2, 3, 4, 6 or 12 months")


def period_of(day: date, months: int) -> tuple[date, date]:
    """The supervision period holding ``day``: (first day, last day). Periods of ``months``
    months tile each year from January. Raises ValueError unless ``months`` divides 12."""
    _check_months(months)
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    return start, _period_end(start, months)


def _period_end(start: date, months: int) -> date:
    month = start.month + months
    year = start.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1) - timedelta(days=1)


def periods(starts_on: date, ends_on: date, months: int) -> list[tuple[date, date]]:
    """The periods overlapping ``starts_on`` .. ``ends_on`` (inclusive), in order."""
    if ends_on < starts_on:
        return []
    result = []
    start, end = period_of(starts_on, months)
    while start <= ends_on:
        result.append((start, end))
        start = end + timedelta(days=1)
        end = _period_end(start, months)
    return result


def closed_periods(starts_on: date, ends_on: date | None, on: date, months: int) -> list[tuple[date, date]]:
    """The contract's periods that have ended by ``on`` (their last day is before ``on``)."""
    last = min(ends_on, on - timedelta(days=1)) if ends_on is not None else on - timedelta(days=1)
    return [p for p in periods(starts_on, last, months) if p[1] < on]


def missing(done: Iterable[str]) -> list[str]:
    """The supervision kinds not among ``done``, in the standard order."""
    have = set(done)
    return [k for k in KINDS if k not in have]


def period_status(period_end: date, done: Iterable[str], on: date) -> dict[str, str]:
    """Each kind's state in a period: ``done``, ``overdue`` (missing after the period) or
    ``pending`` (missing, the period still running)."""
    have = set(done)
    return {k: "done" if k in have else ("overdue" if period_end < on else "pending") for k in KINDS}
