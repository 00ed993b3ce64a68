"""Events the relief service publishes (one pydantic model per type; catalogue: docs/events.md).

Subject of every event: the case id. Money: decimal strings in yuan; instants RFC 3339.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel

from services.relief.schemas import LocalDatetime
from shared.calendar import TZ
from shared.money import format_yuan

CASE_OPENED = "relief.case.opened"
CASE_REFERRED = "relief.case.referred"
CASE_APPROVED = "relief.case.approved"
CASE_REFUSED = "relief.case.refused"
CASE_PAID = "relief.case.paid"
SLA_AT_RISK = "relief.sla.at_risk"
SLA_BREACHED = "relief.sla.breached"
PAPERWORK_OVERDUE = "relief.paperwork.overdue"


class CaseEventData(BaseModel):
    """Fields common to every relief event (``docs/events.md``, section relief)."""

    case_id: str
    town: str
    household_id: str | None
    person_id: str | None
    applicant_type: Literal["registered", "non_local", "vagrant"]
    kind: Literal["emergency", "expenditure"]
    status: str
    amount: str | None
    accepted_at: LocalDatetime | None
    deadline_at: LocalDatetime | None
    deadline_date: date | None
    provisional: bool


class CaseOpened(CaseEventData):
    """``relief.case.opened``: accepted (or a suggested case from a referral: status suggested)."""

    referral_id: str | None = None


class CaseReferred(CaseEventData):
    """``relief.case.referred``: a vagrant referred to the rescue station (R-TR-6)."""

    referred_to: str


class CaseApproved(CaseEventData):
    """``relief.case.approved``: ``approver`` town/district (R-TR-3); ``missing_documents`` and
    ``paperwork_due_at`` when approved before the file was complete (R-TR-5)."""

    approver: Literal["town", "district"]
    approved_at: LocalDatetime
    missing_documents: list[str]
    paperwork_due_at: LocalDatetime | None


class CaseRefused(CaseEventData):
    """``relief.case.refused`` with the ``reason`` given."""

    reason: str


class CasePaid(CaseEventData):
    """``relief.case.paid``: ``paid_at``, ``reference``, ``fund`` (town_reserve or district)."""

    approver: Literal["town", "district"]
    paid_at: LocalDatetime
    reference: str
    fund: Literal["town_reserve", "district"]
    sla_met: bool | None


class SlaAtRisk(CaseEventData):
    """``relief.sla.at_risk``: one working day remains before the deadline (R-TR-2)."""

    at_risk_at: LocalDatetime


class SlaBreached(CaseEventData):
    """``relief.sla.breached``: the deadline passed with the case unpaid (R-TR-2)."""


class PaperworkOverdue(CaseEventData):
    """``relief.paperwork.overdue``: documents still missing at their deadline (R-TR-5) — the
    reminder to the town."""

    paperwork_due_at: LocalDatetime
    missing_documents: list[str]


def local(instant: datetime | None) -> datetime | None:
    """An instant with the Asia/Shanghai offset (how the suite writes deadlines)."""
    return instant.astimezone(TZ) if instant is not None else None


def base_data(case: Any) -> dict[str, Any]:
    """The common fields of a case's events."""
    amount = case.amount_approved if case.amount_approved is not None else case.amount_requested
    return {
        "case_id": str(case.id), "town": case.town, "household_id": case.household_id, "person_id": case.person_id,
        "applicant_type": case.applicant_type, "kind": case.kind, "status": case.status,
        "amount": format_yuan(amount) if amount is not None else None,
        "accepted_at": local(case.accepted_at), "deadline_at": local(case.deadline_at), "deadline_date": case.deadline_date,
        "provisional": bool(case.provisional),
    }
