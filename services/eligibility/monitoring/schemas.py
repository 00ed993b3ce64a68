"""Wire shapes of monitoring: assessments and referrals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.money import Yuan


class RiskAssessmentOut(BaseModel):
    id: int
    household_id: uuid.UUID
    town: str
    assessed_on: date
    trigger: str
    monitored: bool
    covered: bool
    flags: list[dict[str, Any]]
    trace: dict[str, Any]
    created_at: datetime


class ReferralOut(BaseModel):
    referral_id: uuid.UUID
    household_id: uuid.UUID
    town: str
    kind: str
    reasons: list[str]
    suggested_amount: Yuan | None
    risk_assessment_id: int | None
    source: str
    source_ref: str | None
    status: str
    outcome: str | None
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None


class CloseReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["application_opened", "relief_requested", "not_needed", "other"]
    note: str | None = Field(None, max_length=500)
