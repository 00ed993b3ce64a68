"""Wire shapes of applications."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    starts_on: date | None = Field(None, description="first day of the public notice (default today)")


class RefuseIn(_In):
    reasons: list[str] = Field(min_length=1, max_length=10)
    note: str | None = Field(None, max_length=1000)


class ApproveIn(_In):
    note: str | None = Field(None, max_length=1000)


class ExtendIn(_In):
    reason: str = Field(min_length=1, max_length=500)


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
