"""Wire shapes of the parameter API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.timestamps import BusinessDate


class ParameterVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    valid_from: date
    valid_to: date | None
    value: Any
    note: str | None
    created_by: str
    created_at: datetime


class ParameterOut(BaseModel):
    key: str
    kind: str
    rule: str
    unit: str
    description: str
    options: list[str]
    in_force: ParameterVersionOut | None = Field(description="the version in force on ?on= (default: today)")
    versions: list[ParameterVersionOut]


class NewVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_from: BusinessDate
    valid_to: BusinessDate | None = None
    value: Any = Field(description='the new value, e.g. "720.00" for money, "3.5" for a percentage')
    note: str | None = Field(None, max_length=2000)
