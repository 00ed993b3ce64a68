"""The events the subsidy service produces (docs/events.md, subsidy section): one model per type.

Consumers declare their own models of the fields they read; these document the shapes and are
what the producers' code builds (money as "720.00", months YYYY-MM).
"""

from __future__ import annotations

from pydantic import BaseModel


class RunEvent(BaseModel):
    """``subsidy.run.created`` / ``checked`` / ``approved`` / ``issued`` / ``reconciled``."""

    run_id: str
    month: str
    benefit_group: str


class PaymentEvent(BaseModel):
    """``subsidy.payment.paid`` / ``subsidy.payment.failed`` (``reason`` when failed)."""

    run_id: str
    line_id: int
    person_id: str
    household_id: str | None
    benefit: str
    month: str
    amount: str
    reference: str
    reason: str | None = None


class MilestoneEvent(BaseModel):
    """``subsidy.housing.milestone_reached``."""

    project_id: str
    household_id: str
    town: str
    milestone: str
    reached_on: str
    month: str
    tranche: str
    accepted: bool


EVENT_TYPES = (
    "subsidy.run.created", "subsidy.run.checked", "subsidy.run.approved", "subsidy.run.issued",
    "subsidy.run.reconciled", "subsidy.payment.paid", "subsidy.payment.failed", "subsidy.cpi.received",
    "subsidy.housing.project_created", "subsidy.housing.milestone_reached", "subsidy.parameter.versioned",
    "subsidy.roster.rebuild_requested",
)
