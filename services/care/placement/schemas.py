"""Bodies of the placement endpoints (R-TK-3)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from services.care.common import Model, Out, ShortText, TownCode, VillageCode
from services.care.parameters.schemas import DecimalText
from shared.timestamps import BusinessDate

HomeKind = Literal["rural_happiness_home", "nursing_home", "welfare_centre"]
LevelIn = Literal["self_care", "partial_loss", "full_loss"]


class HomeIn(Model):
    """A care home with ``beds`` in all, ``nursing_beds`` of them nursing beds (护理型床位)."""

    name: ShortText
    kind: HomeKind
    town: TownCode
    village: VillageCode | None = None
    beds: int = Field(ge=0, le=10000)
    nursing_beds: int = Field(ge=0, le=10000)

    @model_validator(mode="after")
    def _nursing_within_beds(self) -> HomeIn:
        if self.nursing_beds > self.beds:
            raise PydanticCustomError("nursing_beds_exceed_beds", "nursing_beds must not exceed beds")
        return self


class HomePatch(Model):
    name: ShortText | None = None
    beds: int | None = Field(None, ge=0, le=10000)
    nursing_beds: int | None = Field(None, ge=0, le=10000)
    active: bool | None = None


class HomeOut(Out):
    id: uuid.UUID
    name: str
    kind: str
    town: str
    village: str | None
    beds: int
    nursing_beds: int
    active: bool
    occupied_nursing: int = 0
    occupied_ordinary: int = 0
    free_nursing: int = 0
    free_ordinary: int = 0


class PlacementRequestIn(Model):
    """Put a willing, assessed tekun person on the waiting list (default: requested today)."""

    requested_on: BusinessDate | None = None
    preferred_home_id: uuid.UUID | None = None


class PlacementRequestOut(Out):
    id: uuid.UUID
    person_id: uuid.UUID
    town: str
    requested_on: date
    preferred_home_id: uuid.UUID | None
    status: str
    placement_id: uuid.UUID | None
    closed_on: date | None
    close_reason: str | None


class WaitingOut(Model):
    """A waiting-list entry; ``position`` in priority order (None when excluded, with the reason)."""

    request_id: uuid.UUID
    person_id: uuid.UUID
    name: str | None
    town: str
    level: str | None
    assessed_on: date | None
    requested_on: date
    position: int | None
    excluded_reason: str | None


class AllocateIn(Model):
    """Allocate free beds to the waiting list (all towns, or the candidates of one town)."""

    town: TownCode | None = None


class PlacementOut(Out):
    id: uuid.UUID
    person_id: uuid.UUID
    home_id: uuid.UUID
    bed_type: str
    level: str | None
    priority: int | None
    started_on: date
    status: str
    ended_on: date | None
    end_reason: str | None


class AllocationOut(Model):
    placements: list[PlacementOut]
    waiting: list[WaitingOut]
    trace: dict[str, Any]


class EndPlacementIn(Model):
    ended_on: BusinessDate
    reason: Literal["deceased", "moved_out", "transferred", "withdrawn", "support_ended", "other"]


# --- calculator ------------------------------------------------------------------------------


class CandidateIn(Model):
    ref: ShortText
    level: LevelIn | None = None
    willing: bool
    town: TownCode
    assessed_on: BusinessDate | None = None
    requested_on: BusinessDate
    preferred_home: ShortText | None = None


class HomeBedsIn(Model):
    ref: ShortText
    town: TownCode
    free_nursing: int = Field(ge=0, le=10000)
    free_ordinary: int = Field(ge=0, le=10000)


class AllocationQuery(Model):
    """What-if allocation: candidates and free beds (refs are the caller's own labels)."""

    candidates: list[CandidateIn] = Field(max_length=2000)
    homes: list[HomeBedsIn] = Field(max_length=200)


class AssignmentOut(Model):
    ref: str
    home: str
    bed_type: str
    priority: int


class WaitingRefOut(Model):
    ref: str
    position: int
    reason: str


class ExcludedOut(Model):
    ref: str
    reason: str


class AllocationEvaluation(Model):
    assignments: list[AssignmentOut]
    waiting: list[WaitingRefOut]
    excluded: list[ExcludedOut]
    trace: dict[str, Any]


class RateOut(Model):
    """Full-loss tekun persons, those in centralized support, the rate (4 places) and whether it
    reaches the target."""

    town: str | None
    town_name: str
    full_loss: int
    centralized: int
    rate: DecimalText | None
    met: bool | None


class CentralizedRateOut(Model):
    on: date
    target: DecimalText
    district: RateOut | None
    towns: list[RateOut]
    trace: dict[str, Any]
