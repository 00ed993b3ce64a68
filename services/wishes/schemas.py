"""Schemas shared by the wishes service's areas: the calculators' trace and problem-free helpers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer

from shared.clock import SHANGHAI

#: A timestamp answered in Quanzhou time, RFC 3339 with its offset ("2020-06-15T09:00:00+08:00").
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.astimezone(SHANGHAI).isoformat(), return_type=str, when_used="json"),
]


class ParameterUsed(BaseModel):
    """A parameter version a computation used: its name, value and the version's id and validity."""

    name: str
    value: str
    version_id: int
    valid_from: date
    valid_to: date | None


class Trace(BaseModel):
    """How a calculator reached its result: the rule ids, the inputs, the parameter versions in
    force on the date of the computation and the intermediate figures."""

    rules: list[str]
    inputs: dict[str, Any]
    parameters: list[ParameterUsed] = []
    figures: dict[str, Any] = {}
