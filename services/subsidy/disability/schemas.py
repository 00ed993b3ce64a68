"""Wire shapes of the two-subsidies calculator (R-DS)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.subsidy.common import Month
from services.subsidy.disability.rules import DISABILITY_KINDS
from shared.money import Yuan
from shared.timestamps import BusinessDate

DisabilityKind = Literal[DISABILITY_KINDS]  # type: ignore[valid-type]


class DisabilityPersonIn(BaseModel):
    """A person's situation in the payment month."""

    model_config = ConfigDict(extra="forbid")

    in_dibao: bool = Field(False, description="member of a dibao household")
    tekun: bool = Field(False, description="in tekun support (特困供养)")
    orphan_allowance: bool = Field(False, description="receives the orphan allowance")
    child_without_care_allowance: bool = Field(False, description="receives the child-without-care allowance")
    work_injury_care_allowance: bool = Field(False, description="receives the work-injury insurance care allowance")
    disability_grade: int | None = Field(None, ge=1, le=4, description="1 (most severe) to 4, or null")
    disability_kind: DisabilityKind | None = None
    long_term_care: bool | None = Field(None, description="needs long-term care (6 months or more)")
    care_months: int | None = Field(None, ge=0, le=1200, description="months of care needed (instead of long_term_care)")
    deceased_on: BusinessDate | None = None
    other_living_allowance: Yuan | None = Field(None, description="same-kind living allowance from another scheme, yuan/month (择高)")
    other_nursing_allowance: Yuan | None = Field(None, description="same-kind nursing allowance from another scheme, yuan/month (择高)")


class DisabilityEvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: DisabilityPersonIn
    payment_month: Month | None = Field(None, description="default: the current month")


class ReasonOut(BaseModel):
    subsidy: Literal["living", "nursing"]
    code: str
    rule: str
    message: str


class Amounts(BaseModel):
    living: Yuan
    nursing: Yuan


class DisabilityEvaluateOut(BaseModel):
    payment_month: Month
    living: bool
    nursing: bool
    amounts: Amounts
    reasons: list[ReasonOut]
    trace: dict[str, Any]
