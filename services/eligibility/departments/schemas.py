"""Row shapes of the departments' batches (JSON ``{"rows": [...]}`` or CSV with these columns)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from services.eligibility.registry.schemas import DisabilityKind, IncomeSource
from services.eligibility.schemas import IdNumber, Month
from shared import regions
from shared.money import PositiveYuan
from shared.timestamps import BusinessDate


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id_number: IdNumber
    reference: str | None = Field(None, max_length=100, description="the department's own record id")


class DeathRow(_Row):
    """Public security: a death (死亡注销)."""

    died_on: BusinessDate


class MoveRow(_Row):
    """Public security: a household-registration move (户籍迁移). ``to_town`` null (or absent) =
    moved out of the district; within the district ``to_village`` is required."""

    moved_on: BusinessDate
    to_town: str | None = None
    to_village: str | None = None

    @model_validator(mode="after")
    def _destination(self) -> MoveRow:
        if self.to_town is not None:
            if not regions.is_town(self.to_town):
                raise PydanticCustomError("unknown_town", "to_town is not a town of the district (omit it for a move out)")
            if self.to_village is None or not regions.is_village(self.to_village):
                raise PydanticCustomError("unknown_village", "a move within the district needs to_village")
            if regions.town_of_village(self.to_village).code != self.to_town:
                raise PydanticCustomError("village_not_in_town", "to_village is not in to_town")
        elif self.to_village is not None:
            raise PydanticCustomError("unknown_town", "to_village without to_town")
        return self


class DisabilityCertificateRow(_Row):
    """Disabled persons' federation: a certificate (残疾人证) issued, changed or revoked."""

    certificate_number: str = Field(min_length=1, max_length=40)
    disability_grade: int | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None
    issued_on: BusinessDate
    revoked: bool = False

    @model_validator(mode="after")
    def _grade(self) -> DisabilityCertificateRow:
        if not self.revoked and (self.disability_grade is None or self.disability_kind is None):
            raise PydanticCustomError("disability", "a certificate has disability_grade and disability_kind")
        return self


class MedicalExpenseRow(_Row):
    """Medical insurance: out-of-pocket medical expenses (个人自付) settled in a month."""

    month: Month
    amount: PositiveYuan
    reference: str = Field(min_length=1, max_length=100, description="settlement id (duplicates are skipped)")


class IncomeRow(_Row):
    """Income data (e.g. wages, pensions) of a person over a period."""

    source: IncomeSource
    amount: PositiveYuan
    first_month: Month
    last_month: Month
    reference: str = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _period(self) -> IncomeRow:
        if self.last_month < self.first_month:
            raise PydanticCustomError("period", "last_month is before first_month")
        return self


class RowReport(BaseModel):
    """What happened to a row, as staff read it in the batch record (``unknown_person`` and the
    other registry outcomes included). ``answered``: what the department was told."""

    row: int
    reference: str | None = None
    status: Literal["applied", "duplicate", "rejected"]
    person_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    errors: list[dict] = Field(default_factory=list)
    answered: Literal["accepted", "rejected"] | None = None


class BatchReport(BaseModel):
    """What happened to each row (the staff's batch record); nothing of a rejected row is stored."""

    batch_id: uuid.UUID
    kind: str
    received_at: datetime
    total: int
    applied: int
    duplicates: int
    rejected: int
    rows: list[RowReport]


class RowReceipt(BaseModel):
    """What the sending department learns of a row: ``accepted``, or ``rejected`` for the row's
    own content (field format, ID number checksum, a date after today …) with ``errors``. Whether
    the person is in the assistance registry, or what the row changed, is not told (a row of
    an unknown person is ``accepted`` too); staff read it in the batch record."""

    row: int
    reference: str | None = None
    status: Literal["accepted", "rejected"]
    errors: list[dict] = Field(default_factory=list)


class BatchReceipt(BaseModel):
    """The answer to a department's batch: per-row receipt, counts."""

    batch_id: uuid.UUID
    kind: str
    received_at: datetime
    total: int
    accepted: int
    rejected: int
    rows: list[RowReceipt]
