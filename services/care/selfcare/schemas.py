"""Bodies of the self-care endpoints (R-TK-2, R-TK-1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from services.care.common import Model, Out, ShortText, Text
from services.care.selfcare.rules import SelfCareInputError, check_items
from shared.timestamps import BusinessDate


def _items(value: list[str]) -> list[str]:
    try:
        return list(check_items(value))
    except SelfCareInputError as exc:
        raise PydanticCustomError(exc.code, "{message}", {"message": str(exc)}) from None


NotAchieved = Annotated[
    list[str],
    Field(max_length=12, description="items NOT achieved, of: eating, dressing, bed_transfer, toileting, walking_indoors, bathing"),
    AfterValidator(_items),
]
Level = Literal["self_care", "partial_loss", "full_loss"]


class SelfCareQuery(Model):
    """Calculator input: the items not achieved (unknown item → 422 ``unknown_item``)."""

    not_achieved: NotAchieved


class SelfCareEvaluation(Model):
    """The level (``self_care``, ``partial_loss``, ``full_loss``) and its trace (rule R-TK-2)."""

    level: Level
    not_achieved_count: int
    trace: dict[str, Any]


class AssessmentIn(Model):
    """An assessment of the six items by ``assessor`` on ``assessed_on`` (not in the future)."""

    not_achieved: NotAchieved
    assessed_on: BusinessDate
    assessor: ShortText
    note: Text | None = None


class AssessmentOut(Out):
    id: uuid.UUID
    person_id: uuid.UUID
    assessed_on: date
    assessor: str
    not_achieved: list[str]
    level: Level
    previous_level: str | None
    reason: str
    recorded_by: str
    recorded_at: datetime


class AbilityChangeIn(Model):
    """A reported change of self-care ability (default: reported today)."""

    reported_on: BusinessDate | None = None
    description: Text | None = None


class ReassessmentOut(Out):
    """A reassessment due by ``deadline_at`` (24:00 of ``due_on``, the N-th working day)."""

    id: uuid.UUID
    person_id: uuid.UUID
    town: str
    reported_on: date
    source: str
    working_days: int
    parameter_version_id: int
    due_on: date
    deadline_at: datetime
    provisional: bool
    status: str
    assessment_id: uuid.UUID | None
    closed_on: date | None
    overdue: bool = False
