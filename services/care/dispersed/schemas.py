"""Bodies of the dispersed-support endpoints (R-TK-5)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from services.care.common import Model, Out, ShortText, Text
from shared.timestamps import BusinessDate

Kind = Literal["duty_fulfilled", "service_quality", "regular_visit"]


class ContractIn(Model):
    """A care contract for a dispersed tekun person with a care institution."""

    person_id: uuid.UUID
    institution: ShortText
    institution_code: str | None = Field(None, pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$", description="统一社会信用代码")
    starts_on: BusinessDate
    ends_on: BusinessDate | None = None


class EndContractIn(Model):
    ends_on: BusinessDate


class ContractOut(Out):
    id: uuid.UUID
    person_id: uuid.UUID
    town: str
    institution: str
    institution_code: str | None
    starts_on: date
    ends_on: date | None
    period_months: int
    parameter_version_id: int
    status: str


class SupervisionIn(Model):
    """A supervision done on ``done_on`` (it counts for the period holding that day)."""

    kind: Kind
    done_on: BusinessDate
    inspector: ShortText
    satisfactory: bool
    findings: Text | None = None


class SupervisionOut(Out):
    id: uuid.UUID
    contract_id: uuid.UUID
    period_start: date
    kind: str
    done_on: date
    inspector: str
    satisfactory: bool
    findings: str | None
    recorded_by: str
    recorded_at: datetime


class PeriodOut(Model):
    """A period of the contract and each kind's state: done, overdue or pending."""

    period_start: date
    period_end: date
    kinds: dict[str, str]


class ContractStatusOut(Model):
    contract: ContractOut
    periods: list[PeriodOut]
    supervisions: list[SupervisionOut]
