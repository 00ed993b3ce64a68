"""Pure workflow rules: which step deadlines an application has, in which working days (R-DB-9,
R-TK-1), and what a step's state is."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from services.eligibility.parameters.rules import Parameters
from shared.calendar import TZ, Deadline, WorkingDayCalendar, working_day_deadline

# step -> parameter giving its working days, per category family
DIBAO_STEPS = {
    "investigation_start": "investigation_start_working_days",  # from acceptance
    "process": "process_working_days",  # from acceptance (45 when extended)
    "decision": "decision_working_days",  # from the file reaching the approver
    "refusal_notice": "refusal_notice_working_days",  # from the refusal
}
TEKUN_STEPS = {
    "investigation": "tekun_investigation_working_days",  # from acceptance to the town's opinion
    "decision": "tekun_confirmation_working_days",  # from the file reaching the approver
    "refusal_notice": "refusal_notice_working_days",
}


def steps_for(category: str) -> dict[str, str]:
    """R-DB-9 for dibao (and the allowances decided the same way); R-TK-1 for tekun."""
    return TEKUN_STEPS if category == "tekun" else DIBAO_STEPS


def working_days_for(category: str, step: str, params: Parameters, *, extended: bool = False) -> int:
    name = steps_for(category)[step]
    if step == "process" and extended:
        name = "process_extended_working_days"
    return params.integer(name)


def start_instant(day: date) -> datetime:
    """A step starting on ``day`` (its working days count from the next working day)."""
    return datetime.combine(day, time(12), tzinfo=TZ)


def step_deadline(starts_on: date, working_days: int, calendar: WorkingDayCalendar) -> Deadline:
    """24:00 Asia/Shanghai of the ``working_days``-th working day after ``starts_on`` (R-TR-2's
    counting, which R-DB-9 and R-TK-1 share)."""
    return working_day_deadline(start_instant(starts_on), working_days, calendar)


def warning_instant(starts_on: date, working_days: int, warning_working_days: int, calendar: WorkingDayCalendar) -> datetime:
    """When ``warning_working_days`` (1) working days remain before a step's deadline: 24:00
    Asia/Shanghai of the (``working_days`` − ``warning_working_days``)-th working day after
    ``starts_on`` — R-TR-2's warning, which R-DB-9 shares — or the start itself when the whole
    term is that short."""
    before = working_days - warning_working_days
    if before < 1:
        return start_instant(starts_on)
    return working_day_deadline(start_instant(starts_on), before, calendar).deadline_at


def notice_period(start: date, days: int) -> tuple[date, date]:
    """The public notice (公示) of ``days`` calendar days starting ``start``: first and last day."""
    return start, start + timedelta(days=days - 1)


def deadline_state(due_at: datetime, met_at: datetime | None, breached_at: datetime | None) -> str:
    """``open``, ``met``, ``met_late`` or ``breached`` (breached and still open)."""
    if met_at is not None:
        return "met" if met_at <= due_at else "met_late"
    return "breached" if breached_at is not None else "open"
