"""Request and response bodies of the parameter API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from shared.timestamps import BusinessDate


class ParameterOut(BaseModel):
    """One version of a policy parameter. ``value`` is a decimal string in ``unit`` (yuan,
    working_days or ratio)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    value: Decimal
    unit: str
    rule: str
    valid_from: date
    valid_to: date | None
    created_by: str
    created_at: datetime

    @field_serializer("value")
    def _value(self, value: Decimal) -> str:
        if self.unit == "yuan":
            return f"{value:.2f}"
        if self.unit == "working_days":
            return str(int(value))
        return format(value.normalize(), "f")


class ParameterIn(BaseModel):
    """A new version of parameter ``name`` in force from ``valid_from``; the version in force the
    day before is closed then. ``value`` as a decimal string (``"3000.00"``, ``"5"``, ``"0.90"``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, examples=["case_cap"])
    value: Decimal = Field(examples=["5000.00"])
    valid_from: BusinessDate
