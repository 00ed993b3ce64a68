"""Wire shapes of the benefit-amount calculators (R-DB-4..6, R-TK-2/4, R-OR-1/2, R-OA-1)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.subsidy.common import Month
from shared.money import Yuan

SelfCareLevel = Literal["self_care", "partial_loss", "full_loss"]


class DibaoPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month
    members: int = Field(ge=1, le=50, description="members covered (1 for single-person inclusion, R-DB-5)")
    net_income_12m: Yuan = Field(description="household net income of the last 12 months (R-DB-2), yuan")
    gradual_exit_amount: Yuan | None = Field(None, description="in gradual exit (R-DB-6): the benefit kept, yuan/month")


class TekunSupportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month
    self_care_level: SelfCareLevel | None = Field(None, description="R-TK-2 level (default: self_care)")
    centralized: bool = Field(False, description="in centralized support (集中供养): compute the fees (R-TK-4)")
    other_entitlements: Yuan = Field(default=Decimal("0.00"), description="other monthly income applied to the fees, yuan")


class OrphanAllowanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month
    kind: Literal["institutional", "dispersed", "child_without_care"]
    birth_date: date | None = None
    school_enrolment: Literal["none", "compulsory", "high_school", "secondary_vocational", "higher"] | None = None
    already_received: Yuan = Field(default=Decimal("0.00"), description="R-OR-2: dibao share, tekun or living subsidy already received, yuan/month")


class VeteranAllowanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month


class AmountOut(BaseModel):
    month: Month
    payable: bool
    amount: Yuan = Field(description="yuan/month")
    parts: dict[str, Yuan] = Field(default_factory=dict)
    trace: dict[str, Any]
