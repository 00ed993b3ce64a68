"""Bodies of the person endpoints."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from services.care.common import Model, Out, ShortText, TownCode, VillageCode
from shared.timestamps import BusinessDate

DisabilityKind = Literal["physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple"]


class PersonIn(Model):
    """A person not in the assistance registry (a left-behind child, an elderly person …),
    registered by town staff. ``id_number``: resident ID (GB 11643-1999); birth date and sex are
    read from it."""

    name: ShortText
    id_number: str = Field(max_length=32)
    town: TownCode
    village: VillageCode | None = None
    disability_grade: int | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None


class PersonPatch(Model):
    """Changes to a care-registered person (a registry person is changed in eligibility)."""

    name: ShortText | None = None
    village: VillageCode | None = None
    disability_grade: int | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None


class Willingness(Model):
    """Whether the person wants centralized support (集中供养意愿, R-TK-3), as recorded on a date."""

    willing: bool
    recorded_on: BusinessDate | None = None


class PersonSummary(Out):
    """A person in a list: the ID number masked."""

    id: uuid.UUID
    eligibility_person_id: str | None
    source: str
    name: str | None
    id_number_masked: str | None
    town: str
    village: str | None
    tekun: bool
    self_care_level: str | None
    deceased_on: date | None


class PersonOut(Out):
    """A person's record (reads are audited)."""

    id: uuid.UUID
    eligibility_person_id: str | None
    household_id: str | None
    source: str
    name: str | None
    id_number: str | None
    sex: str | None
    birth_date: date | None
    town: str
    village: str | None
    disability_grade: int | None
    disability_kind: str | None
    long_term_care: bool
    left_behind: str | None
    deceased_on: date | None
    tekun: bool
    tekun_since: date | None
    tekun_until: date | None
    self_care_level: str | None
    level_assessed_on: date | None
    willing_centralized: bool | None
    willingness_recorded_on: date | None
