"""Wire shapes of the parameters API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from shared.timestamps import BusinessDate


class ParameterOut(BaseModel):
    """One version of a parameter. ``value`` is a decimal string (yuan with two places)."""

    id: int
    name: str
    value: Decimal
    unit: str
    rule: str
    valid_from: date
    valid_to: date | None
    note: str | None = None
    created_by: str
    created_at: datetime

    @field_serializer("value")
    def _value(self, value: Decimal) -> str:
        if self.unit == "yuan":
            return format(value.quantize(Decimal("0.01")), "f")
        return format(value.normalize(), "f")


class ParameterVersionIn(BaseModel):
    """A new version of parameter ``name`` from ``valid_from`` (it closes the current one the day
    before). ``value``: a decimal string (yuan for money, a count for months/days/years)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, examples=["dibao_standard"])
    value: str = Field(max_length=32, examples=["750.00"])
    valid_from: BusinessDate
    note: str | None = Field(None, max_length=500)


class RecalculationOut(BaseModel):
    """What a new standard changed: benefits recalculated, changed, ended, put in gradual exit."""

    effective_month: str
    examined: int
    changed: int
    ended: int
    gradual_exit: int
    unchanged: int


class ParameterCreatedOut(BaseModel):
    version: ParameterOut
    recalculation: RecalculationOut | None = None


class ParameterWithdrawnOut(BaseModel):
    withdrawn: ParameterOut
    reopened: ParameterOut | None
    recalculation: RecalculationOut | None = None


def to_out(row: Any) -> ParameterOut:
    return ParameterOut.model_validate(row, from_attributes=True)
