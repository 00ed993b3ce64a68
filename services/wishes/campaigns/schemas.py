"""Schemas of campaigns, wishes and the R-MW-1 / R-MW-2 calculators."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.wishes import rules
from services.wishes.schemas import Timestamp, Trace
from shared.money import PositiveYuan, Yuan
from shared.timestamps import BusinessDate

Category = Literal["daily_necessities", "food", "clothing", "study", "appliance", "medical_aid", "housing", "other"]


class PersonalDataError(ValueError):
    """Text of a wish that looks like an ID number, phone or address (R-MW-2)."""

    code = "personal_data"


def _screened(value: str) -> str:
    value = value.strip()
    findings = rules.personal_data_findings(value)
    if findings:
        kinds = ", ".join(sorted({f.kind for f in findings}))
        raise PersonalDataError(f"the text must not hold personal data (found: {kinds})")
    return value


class CampaignIn(BaseModel):
    """A new campaign; its village quota is the ``village_quota`` parameter in force on ``starts_on``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["微光成炬·助力脱贫攻坚 2020"])
    starts_on: BusinessDate
    ends_on: BusinessDate | None = None

    @model_validator(mode="after")
    def _dates(self) -> CampaignIn:
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class CampaignOut(BaseModel):
    """A campaign: ``village_quota`` wishes per village (R-MW-1), ``target`` in all (505)."""

    id: int
    name: str
    starts_on: date
    ends_on: date | None
    status: str
    village_quota: int
    quota_parameter_id: int
    target: int
    created_at: Timestamp
    closed_at: Timestamp | None


class WishIn(BaseModel):
    """A family's wish as a village officer enters it (the household comes from eligibility).

    ``title`` is the wish itself ("一台电饭煲"); neither it nor ``description`` may hold an ID
    number, phone number or address (422 ``personal_data``, R-MW-2). ``cost`` in yuan, > 0.
    """

    model_config = ConfigDict(extra="forbid")

    household_id: str = Field(min_length=1, max_length=64)
    category: Category
    title: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=500)
    cost: PositiveYuan

    _screen = field_validator("title", "description")(_screened)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class ConfirmIn(BaseModel):
    """Receipt confirmed by the family, or by the village on its behalf (R-MW-4)."""

    model_config = ConfigDict(extra="forbid")

    confirmed_by: rules.ConfirmedBy
    note: str | None = Field(None, max_length=500)

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return None if value is None else _screened(value)


class WishOut(BaseModel):
    """A wish as staff see it (the board shows a subset, without ``household_id``)."""

    id: int
    campaign_id: int
    household_id: str
    town: str
    town_name: str
    village: str
    village_name: str
    family_type: str
    family_type_label: str
    category: str
    title: str
    description: str
    cost: Yuan
    pledged: Yuan
    open_amount: Yuan
    status: str
    entered_by: str
    entered_at: Timestamp
    reviewed_by: str | None
    reviewed_at: Timestamp | None
    rejection_reason: str | None
    published_at: Timestamp | None
    fully_pledged_at: Timestamp | None
    delivered_at: Timestamp | None
    confirmed_at: Timestamp | None
    confirmed_by: str | None
    closed_at: Timestamp | None


# --- calculators


class CollectionEvaluateIn(BaseModel):
    """Inputs of R-MW-1: the family's situation and the village's wishes so far in the campaign."""

    model_config = ConfigDict(extra="forbid")

    registered_poor: bool = False
    dibao: bool = False
    tekun: bool = False
    lonely_elderly: bool = False
    child_in_difficulty: bool = False
    wishes_in_village: int = Field(0, ge=0, le=1000)
    household_has_wish: bool = False
    on: BusinessDate | None = Field(None, description="date whose village_quota applies (default: today)")


class CollectionEvaluateOut(BaseModel):
    accepted: bool
    code: str | None
    family_types: list[str]
    family_type: str | None
    family_type_label: str | None
    village_quota: int
    campaign_target: int
    remaining_in_village: int
    trace: Trace


class PublicationEvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=100)
    description: str = Field("", max_length=500)


class Finding(BaseModel):
    field: str
    kind: str
    start: int
    end: int


class PublicationEvaluateOut(BaseModel):
    """R-MW-2: whether the text may go on the board, and where it looks like personal data."""

    publishable: bool
    findings: list[Finding]
    board_fields: list[str]
    trace: Trace
