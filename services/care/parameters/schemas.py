"""Request and response bodies of the parameter endpoints."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

from services.care.common import Model, Out

# Parameters are plain decimals (days, minutes, a ratio), not money: sent as strings, "30", "0.5000".
DecimalText = Annotated[Decimal, PlainSerializer(lambda v: format(v.normalize(), "f"), return_type=str, when_used="json")]


class ParameterOut(Out):
    """A parameter version; ``value`` in ``unit``; ``rule`` the POLICY rule id it serves."""

    key: str
    value: DecimalText
    unit: str
    rule: str
    description: str
    valid_from: date
    valid_to: date | None
    version_id: int
    local_default: bool


class NewVersion(Model):
    """A new version of a parameter, in force from ``valid_from`` (the current one ends the day before)."""

    value: Decimal = Field(description="the new value in the parameter's unit, e.g. 30 or 0.5")
    valid_from: date
    note: str | None = Field(None, max_length=500)
