"""Wire shapes of the safe-housing API (R-HS-1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.subsidy.common import Month
from shared.money import PositiveYuan, Yuan
from shared.timestamps import BusinessDate

Milestone = Literal["started", "structure_done", "accepted"]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: str = Field(min_length=1, max_length=64)
    person_id: str = Field(min_length=1, max_length=64, description="the payee (household head)")
    town: str = Field(pattern=r"^\d{9}$")
    village: str | None = Field(None, pattern=r"^\d{12}$")
    subsidy: PositiveYuan = Field(description="housing subsidy of the project, yuan")
    planned_on: BusinessDate
    description: str | None = Field(None, max_length=2000)


class MilestoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    milestone: Milestone
    reached_on: BusinessDate


class MilestoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    milestone: Milestone
    reached_on: date
    month: Month
    amount: Yuan
    ratio: Decimal
    parameter_version_id: int
    recorded_by: str
    recorded_at: datetime


class ProjectOut(BaseModel):
    id: uuid.UUID
    household_id: str
    person_id: str
    town: str
    village: str | None
    subsidy: Yuan
    stage: Literal["planned", "started", "structure_done", "accepted"]
    planned_on: date
    description: str | None
    created_at: datetime
    created_by: str
    milestones: list[MilestoneOut]


class HousingKpiOut(BaseModel):
    town: str | None
    by_stage: dict[str, int]
    accepted: int
    target: int
    rate: Decimal = Field(description="accepted / target")
    met: bool
    parameters: list[dict[str, Any]]


class TranchesEvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subsidy: PositiveYuan
    on: BusinessDate | None = Field(None, description="date whose tranche ratios apply (default: today)")


class TranchesEvaluateOut(BaseModel):
    tranches: dict[str, Yuan]
    trace: dict[str, Any]
