"""Wire shapes of payment runs, lines and bank returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.subsidy.common import Month
from services.subsidy.runs import rules
from services.subsidy.runs.models import PaymentLine, PaymentRun
from shared.money import Yuan

BenefitGroup = Literal["assistance", "disability", "children", "veterans", "price", "housing"]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month
    benefit_group: BenefitGroup = Field(description="; ".join(f"{g}: {', '.join(b)}" for g, b in rules.GROUPS.items()))


class RunOut(BaseModel):
    id: uuid.UUID
    code: str
    month: Month
    benefit_group: BenefitGroup
    status: Literal["created", "checked", "approved", "issued", "reconciled"]
    created_at: datetime
    created_by: str
    checked_at: datetime | None
    approved_at: datetime | None
    approved_by: str | None
    issued_at: datetime | None
    issued_by: str | None
    reconciled_at: datetime | None
    lines_total: int
    lines_payable: int
    lines_dropped: int
    lines_carried_in: int
    amount_payable: Yuan
    bank_count: int | None
    bank_total: Yuan | None
    status_counts: dict[str, int] | None = None
    trace: dict[str, Any] | None

    @classmethod
    def of(cls, run: PaymentRun, status_counts: dict[str, int] | None = None) -> RunOut:
        return cls(
            id=run.id, code=rules.run_code(run.month, run.benefit_group), month=run.month,
            benefit_group=run.benefit_group, status=run.status, created_at=run.created_at, created_by=run.created_by,
            checked_at=run.checked_at, approved_at=run.approved_at, approved_by=run.approved_by,
            issued_at=run.issued_at, issued_by=run.issued_by, reconciled_at=run.reconciled_at,
            lines_total=run.lines_total, lines_payable=run.lines_payable, lines_dropped=run.lines_dropped,
            lines_carried_in=run.lines_carried_in, amount_payable=run.amount_payable, bank_count=run.bank_count,
            bank_total=run.bank_total, status_counts=status_counts, trace=run.trace,
        )


class DroppedSummary(BaseModel):
    reason: str
    rule: str
    description: str
    stage: Literal["snapshot", "bank_file"]
    lines: int
    amount: Yuan


class RunReport(BaseModel):
    run: RunOut
    dropped: list[DroppedSummary]


def _mask_account(account: str | None) -> str | None:
    if not account:
        return account
    return "*" * max(len(account) - 4, 0) + account[-4:]


class LineOut(BaseModel):
    id: int
    reference: str | None
    run_id: uuid.UUID
    person_id: str
    payee_id: str
    household_id: str | None
    benefit_id: str | None
    benefit: str
    month: Month
    amount: Yuan
    town: str | None
    village: str | None
    payee_name: str = Field(description="masked, as in the bank file")
    bank_account: str | None = Field(description="masked but for the last 4 digits")
    status: Literal["payable", "dropped", "paid", "failed"]
    drop_reason: str | None
    drop_rule: str | None
    dropped_stage: str | None
    failure_reason: str | None
    carried_from_line_id: int | None
    carried_to_run_id: uuid.UUID | None

    @classmethod
    def of(cls, line: PaymentLine, *, issued: bool) -> LineOut:
        sent = issued and line.status in ("payable", "paid", "failed")
        return cls(
            id=line.id, reference=rules.line_reference(line.id) if sent else None, run_id=line.run_id,
            person_id=line.person_id, payee_id=line.payee_id, household_id=line.household_id,
            benefit_id=line.benefit_id, benefit=line.benefit, month=line.month, amount=line.amount, town=line.town,
            village=line.village, payee_name=rules.mask_name(line.payee_name), bank_account=_mask_account(line.bank_account),
            status=line.status, drop_reason=line.drop_reason,
            drop_rule=rules.DROP_REASONS[line.drop_reason][0] if line.drop_reason in rules.DROP_REASONS else None,
            dropped_stage=line.dropped_stage, failure_reason=line.failure_reason,
            carried_from_line_id=line.carried_from_line_id, carried_to_run_id=line.carried_to_run_id,
        )


class ReturnRowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=40)
    status: Literal["paid", "failed"]
    reason: str | None = Field(None, max_length=500, description="why the bank could not pay (required when failed)")

    @model_validator(mode="after")
    def _reason(self) -> ReturnRowIn:
        if self.status == "failed" and not (self.reason or "").strip():
            raise ValueError("a failed line needs a reason")
        return self


class BankReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[ReturnRowIn] = Field(min_length=1, max_length=50_000)


class BankReturnOut(BaseModel):
    id: uuid.UUID
    rows: int
    paid: int
    failed: int
    unchanged: int
    reconciled_runs: list[str]

