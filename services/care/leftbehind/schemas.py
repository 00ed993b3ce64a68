"""Bodies of the left-behind registry endpoints (R-LB-1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from services.care.common import Model, Out, Text
from shared.timestamps import BusinessDate

Months = Annotated[int, Field(ge=0, le=1200, description="months away")]


class ChildFacts(Model):
    """Both parents away working, or one away and the other unable to act as guardian."""

    parents: Literal["both_away", "one_away_other_unable"]
    absence_months: Months
    guardian: Literal["grandparent", "other_relative", "other", "none"]


class ElderlyFacts(Model):
    children_away: bool
    absence_months: Months
    living: Literal["alone", "with_spouse", "with_grandchildren", "other"]


class WomanFacts(Model):
    husband_away: bool
    absence_months: Months


FACTS_BY_CATEGORY: dict[str, TypeAdapter[Any]] = {
    "child": TypeAdapter(ChildFacts),
    "elderly": TypeAdapter(ElderlyFacts),
    "woman": TypeAdapter(WomanFacts),
}


class _EntryBase(Model):
    person_id: uuid.UUID
    entered_on: BusinessDate | None = None


class ChildEntryIn(_EntryBase):
    category: Literal["child"]
    facts: ChildFacts


class ElderlyEntryIn(_EntryBase):
    category: Literal["elderly"]
    facts: ElderlyFacts


class WomanEntryIn(_EntryBase):
    category: Literal["woman"]
    facts: WomanFacts


EntryIn = Annotated[ChildEntryIn | ElderlyEntryIn | WomanEntryIn, Field(discriminator="category")]


class EntryPatch(Model):
    """New facts of the entry's category (checked against its criteria again)."""

    facts: dict[str, Any]
    on: BusinessDate | None = None
    note: Text | None = None


class LeaveIn(Model):
    left_on: BusinessDate
    reason: Literal["parents_returned", "family_returned", "aged_out", "moved_away", "deceased", "no_longer_meets", "other"]
    note: Text | None = None


class ChangeOut(Out):
    change: str
    on: date
    details: dict[str, Any]
    note: str | None
    by: str
    at: datetime


class EntryOut(Out):
    id: uuid.UUID
    person_id: uuid.UUID
    category: str
    town: str
    village: str | None
    facts: dict[str, Any]
    criteria_trace: dict[str, Any]
    status: str
    entered_on: date
    left_on: date | None
    left_reason: str | None
    history: list[ChangeOut] = []


class _EvalBase(Model):
    sex: Literal["male", "female"]
    birth_date: date
    on: date


class ChildEval(_EvalBase):
    category: Literal["child"]
    facts: ChildFacts


class ElderlyEval(_EvalBase):
    category: Literal["elderly"]
    facts: ElderlyFacts


class WomanEval(_EvalBase):
    category: Literal["woman"]
    facts: WomanFacts


CriteriaQuery = Annotated[ChildEval | ElderlyEval | WomanEval, Field(discriminator="category")]


class CriteriaOut(Model):
    met: bool
    failures: list[str]
    trace: dict[str, Any]
