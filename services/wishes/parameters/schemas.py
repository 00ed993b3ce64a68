"""Schemas of the parameter API (``/api/v1/wishes/parameters``)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from services.wishes.schemas import Timestamp
from shared.timestamps import BusinessDate


class ParameterVersionOut(BaseModel):
    """One version of a parameter; ``valid_to`` is the last day in force (null: still in force)."""

    id: int
    name: str
    value: str
    unit: str
    rule: str
    valid_from: date
    valid_to: date | None
    created_at: Timestamp
    created_by: str


class ParameterVersionIn(BaseModel):
    """A new version of parameter ``name`` in force from ``valid_from`` (the previous version then
    ends the day before)."""

    name: str = Field(max_length=64, examples=["pledge_days"])
    value: str = Field(max_length=100, examples=["30"])
    valid_from: BusinessDate
