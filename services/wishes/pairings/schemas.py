"""Schemas of 阳光1+1 (R-OA-2): old-area villages, organizations, pairings and their projects."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.wishes import rules
from services.wishes.schemas import Timestamp
from shared.money import Yuan
from shared.timestamps import BusinessDate

OrganizationKind = Literal["social_organization", "enterprise", "charity", "volunteer_team", "other"]


class CreditCodeError(ValueError):
    code = "credit_code"


class OldAreaVillageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=500)


class OldAreaVillageOut(BaseModel):
    village: str
    village_name: str
    town: str
    town_name: str
    note: str | None
    designated_at: Timestamp


class OrganizationIn(BaseModel):
    """A social organization; ``credit_code`` is its unified social credit code (GB 32100-2015)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: OrganizationKind = "social_organization"
    credit_code: str | None = Field(None, min_length=18, max_length=18)

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not rules.valid_credit_code(value):
            raise CreditCodeError("not a valid unified social credit code")
        return value


class OrganizationOut(BaseModel):
    id: int
    name: str
    kind: str
    credit_code: str | None
    active: bool
    created_at: Timestamp


class PairingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: int = Field(ge=1)
    village: str = Field(min_length=12, max_length=12)
    started_on: BusinessDate
    note: str | None = Field(None, max_length=500)


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    budget: Yuan | None = None


class ProjectOut(BaseModel):
    id: int
    pairing_id: int
    title: str
    description: str
    budget: Yuan | None
    status: str
    started_on: date | None
    completed_on: date | None
    updated_at: Timestamp


class PairingOut(BaseModel):
    """A pairing (结对) of an organization with an old-area village, and its projects."""

    id: int
    organization_id: int
    organization_name: str
    village: str
    village_name: str
    town: str
    town_name: str
    status: str
    started_on: date
    ended_on: date | None
    note: str | None
    projects: list[ProjectOut]
    updated_at: Timestamp
