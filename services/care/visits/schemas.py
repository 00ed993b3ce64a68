"""Bodies of the visit endpoints (R-LB-2, R-EP-1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from services.care.common import Model, Out, ShortText, Text, TownCode
from services.care.parameters.catalogue import VISIT_CATEGORIES
from services.care.visits.rules import REFERRAL_REASONS, referral_reason_valid
from shared.timestamps import BusinessDate

Category = Literal["left_behind_child", "left_behind_elderly", "left_behind_woman", "dependent_elderly", "mental_disorder_family"]
assert set(Category.__args__) == set(VISIT_CATEGORIES)  # type: ignore[attr-defined]
Method = Literal["phone", "wechat", "home_visit"]


class VolunteerIn(Model):
    """A 505 volunteer or care worker: ``sub`` is their gateway user's token subject."""

    sub: ShortText
    name: ShortText
    kind: Literal["volunteer", "care_worker"] = "volunteer"
    town: TownCode
    team: ShortText | None = None


class VolunteerPatch(Model):
    name: ShortText | None = None
    team: ShortText | None = None
    active: bool | None = None


class VolunteerOut(Out):
    id: uuid.UUID
    sub: str
    name: str
    kind: str
    town: str
    team: str | None
    active: bool


class PlanIn(Model):
    """A visit plan for a person of a category, paired with a volunteer of the person's town.
    The frequency is the category's parameter in force on ``starts_on`` (default today)."""

    person_id: uuid.UUID
    category: Category
    volunteer_id: uuid.UUID
    starts_on: BusinessDate | None = None


class PairIn(Model):
    volunteer_id: uuid.UUID


class EndPlanIn(Model):
    ended_on: BusinessDate
    reason: Literal["no_longer_needed", "moved_away", "deceased", "other"]


class PlanOut(Out):
    id: uuid.UUID
    person_id: uuid.UUID
    category: str
    town: str
    village: str | None
    volunteer_id: uuid.UUID | None
    interval_days: int
    parameter_version_id: int
    starts_on: date
    next_due: date
    last_visit_on: date | None
    status: str
    ended_on: date | None
    end_reason: str | None
    overdue: bool = False
    overdue_count: int


class FollowUp(Model):
    """A referral made by the visit: to ``relief`` (``emergency_hardship``,
    ``expenditure_hardship``, ``epidemic_hardship``) or ``eligibility`` (``needs_assessment``,
    ``income_loss``, ``household_changed``)."""

    to: Literal["relief", "eligibility"]
    reason: str = Field(max_length=40)
    note: Text | None = None

    @model_validator(mode="after")
    def _reason_fits(self) -> FollowUp:
        if not referral_reason_valid(self.to, self.reason):
            raise PydanticCustomError(
                "unknown_reason", "reason for {to} must be one of {allowed}",
                {"to": self.to, "allowed": ", ".join(REFERRAL_REASONS[self.to])},
            )
        return self


class VisitIn(Model):
    """A visit or check (R-EP-1 method: phone, wechat, home_visit) with its findings; optionally
    a referral and a reported change of self-care ability (a tekun person is then reassessed)."""

    visited_on: BusinessDate
    method: Method
    findings: Text
    referral: FollowUp | None = None
    ability_changed: bool = False


class VisitOut(Out):
    id: uuid.UUID
    plan_id: uuid.UUID
    person_id: uuid.UUID
    visited_on: date
    method: str
    findings: str
    due_on: date
    on_time: bool
    visited_by: str
    recorded_at: datetime
    referral_id: uuid.UUID | None = None
    reassessment_id: uuid.UUID | None = None
    next_due: date | None = None


class DueOut(Model):
    """A visit due for the mobile app: who, where, by when."""

    plan_id: uuid.UUID
    person_id: uuid.UUID
    name: str | None
    town: str
    village: str | None
    category: str
    next_due: date
    overdue: bool
    last_visit_on: date | None


class ReferralOut(Out):
    id: uuid.UUID
    visit_id: uuid.UUID | None
    person_id: uuid.UUID
    town: str
    to: str
    reason: str
    note: str | None
    created_by: str
    created_at: datetime


class VisitsKpiOut(Model):
    """R-LB-2 KPI: visits made on time, late, and periods still missed (due in the year, passed
    unvisited), with the on-time rate (4 places)."""

    year: int
    as_of: date
    town: str | None
    on_time: int
    late: int
    missed: int
    rate: str | None
