"""Visits of the "505" guardianship (505守护工程): pure policy, no I/O.

R-LB-2: each visit plan has a frequency by category (parameter ``visit_interval_days.<category>``);
the next visit is due ``interval`` days after the last one (or after the plan's start), and a
visit is overdue when that day passes without one. R-EP-1: a check or visit is made by phone,
WeChat or a home visit (电话、微信、上门), and the method is recorded.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

RULE = "R-LB-2"
CONTACT_RULE = "R-EP-1"

Method = Literal["phone", "wechat", "home_visit"]
METHODS: dict[str, str] = {"phone": "电话", "wechat": "微信", "home_visit": "上门"}

# Follow-up referrals a visit can make, by receiving service.
REFERRAL_REASONS: dict[str, tuple[str, ...]] = {
    # temporary relief (临时救助): emergency or expenditure-type hardship, epidemic hardship (R-EP-1)
    "relief": ("emergency_hardship", "expenditure_hardship", "epidemic_hardship"),
    # the registry: assess for dibao / tekun, or a change in the household's situation
    "eligibility": ("needs_assessment", "income_loss", "household_changed"),
}


def first_due(starts_on: date, interval_days: int) -> date:
    """The day by which a new plan's first visit is due: ``interval_days`` after its start."""
    return due_after(starts_on, interval_days)


def due_after(last: date, interval_days: int) -> date:
    """R-LB-2: the next visit is due ``interval_days`` days after ``last`` (the last visit or the
    plan's start). Raises ValueError for an interval below 1."""
    if interval_days < 1:
        raise ValueError("interval_days must be at least 1")
    return last + timedelta(days=interval_days)


def is_overdue(next_due: date, on: date) -> bool:
    """Overdue once the due day has passed without a visit (``on`` is after ``next_due``)."""
    return on > next_due


def on_time(visited_on: date, due_on: date) -> bool:
    """A visit is on time when made on or before the day it was due."""
    return visited_on <= due_on


def referral_reason_valid(to: str, reason: str) -> bool:
    return reason in REFERRAL_REASONS.get(to, ())


def on_time_rate(on_time_visits: int, late_visits: int, missed: int) -> Decimal | None:
    """KPI "visits on time": on-time visits / (all visits + periods still missed), half-up to 4
    places; None when nothing was due."""
    if min(on_time_visits, late_visits, missed) < 0:
        raise ValueError("counts must not be negative")
    total = on_time_visits + late_visits + missed
    if total == 0:
        return None
    return (Decimal(on_time_visits) / Decimal(total)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
