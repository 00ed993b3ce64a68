"""Bodies of the pilot endpoints (R-LB-4)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from services.care.common import Model, Out, ShortText, Text, TownCode, VillageCode
from shared.timestamps import BusinessDate

Kind = Literal["severe_disability_care", "mental_health_rehab", "other"]
ServiceType = Literal[
    "spiritual_comfort", "community_rehabilitation", "hardship_help", "social_integration", "social_support",
    "daily_care", "nursing",
]


class ProgrammeIn(Model):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,48}$")
    name: ShortText
    kind: Kind
    town: TownCode | None = None
    village: VillageCode | None = None
    area_note: ShortText | None = None
    provider: ShortText | None = None
    starts_on: BusinessDate
    ends_on: BusinessDate | None = None


class ProgrammeOut(Out):
    id: uuid.UUID
    code: str
    name: str
    kind: str
    town: str | None
    village: str | None
    area_note: str | None
    provider: str | None
    starts_on: date
    ends_on: date | None
    enrolled: int = 0


class EnrolIn(Model):
    person_id: uuid.UUID
    enrolled_on: BusinessDate | None = None


class LeaveEnrolmentIn(Model):
    left_on: BusinessDate
    reason: Literal["recovered", "moved_away", "deceased", "withdrawn", "programme_ended", "other"]


class EnrolmentOut(Out):
    id: uuid.UUID
    programme_id: uuid.UUID
    person_id: uuid.UUID
    town: str
    enrolled_on: date
    status: str
    left_on: date | None
    left_reason: str | None


class ServiceIn(Model):
    served_on: BusinessDate
    service_type: ServiceType
    minutes: int = Field(ge=1, le=1440)
    provider: ShortText
    note: Text | None = None


class ServiceOut(Out):
    id: uuid.UUID
    enrolment_id: uuid.UUID
    served_on: date
    service_type: str
    minutes: int
    provider: str
    note: str | None
    recorded_by: str
    recorded_at: datetime
