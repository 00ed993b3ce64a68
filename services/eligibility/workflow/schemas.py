"""Wire shapes of applications."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.timestamps import BusinessDate

Category = Literal["dibao", "tekun", "orphan", "child_without_care", "revolutionary_veteran"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicationIn(_In):
    """An application accepted by the town (受理). ``person_id`` for the person categories."""

    household_id: uuid.UUID
    category: Category
    person_id: uuid.UUID | None = None


class OpinionIn(_In):
    opinion: Literal["approve", "refuse"]
    note: str | None = Field(None, max_length=1000)


class NoticeIn(_In):
    starts_on: BusinessDate | None = Field(None, description="first day of the public notice (default today)")


class RefuseIn(_In):
    reasons: list[str] = Field(min_length=1, max_length=10)
    note: str | None = Field(None, max_length=1000)


class ApproveIn(_In):
    note: str | None = Field(None, max_length=1000)


class ExtendIn(_In):
    reason: str = Field(min_length=1, max_length=500)


class ObjectionIn(_In):
    """An objection (异议) raised during the public notice, as the town received it. ``objector``
    is a name or "anonymous" (personal data: shown to staff, never logged)."""

    objector: str = Field(min_length=1, max_length=200)
    objector_kind: Literal["villager", "relative", "anonymous", "other"] = "villager"
    channel: Literal["in_person", "phone", "letter", "online"] = "in_person"
    content: str = Field(min_length=1, max_length=2000, description="what the objection says")
    received_on: BusinessDate | None = Field(None, description="within the notice period (default today)")


class ResolveObjectionIn(_In):
    """The town's resolution after verifying the objection: ``upheld`` refuses the application
    with ``reason``; ``dismissed`` lets it continue."""

    outcome: Literal["upheld", "dismissed"]
    reason: str = Field(min_length=1, max_length=1000)


class ObjectionOut(BaseModel):
    objection_id: uuid.UUID
    application_id: uuid.UUID
    received_on: date
    objector: str
    objector_kind: str
    channel: str
    content: str
    recorded_by: str
    recorded_at: datetime
    status: str = Field(description="open, upheld, dismissed or superseded")
    resolution_reason: str | None
    resolved_by: str | None
    resolved_at: datetime | None


class DeadlineOut(BaseModel):
    step: str
    working_days: int | None
    starts_on: date
    due_date: date
    due_at: datetime
    provisional: bool
    state: str
    met_at: datetime | None
    breached_at: datetime | None
    at_risk_at: datetime | None = Field(None, description="when one working day remains (the warning instant)")
    at_risk_notified_at: datetime | None = Field(None, description="when eligibility.application.deadline_at_risk was sent")


class ApplicationOut(BaseModel):
    application_id: uuid.UUID
    household_id: uuid.UUID
    person_id: uuid.UUID | None
    town: str
    category: str
    status: str
    accepted_at: datetime
    accepted_by: str
    extended: bool
    investigation_started_at: datetime | None
    opinion: str | None
    opinion_note: str | None
    opinion_at: datetime | None
    notice_from: date | None
    notice_until: date | None
    with_approver_at: datetime | None
    steps: list[dict]
    decided_at: datetime | None
    decided_by: str | None
    refusal_reasons: list[str] | None
    refusal_notified_at: datetime | None
    decision_id: uuid.UUID | None
    deadlines: list[DeadlineOut]
    objections: list[ObjectionOut] = Field(default_factory=list, description="objections raised during the public notice (公示异议)")
