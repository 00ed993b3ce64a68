"""Field types shared by the eligibility schemas: months, resident ID numbers, names, regions."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from services.eligibility.figures import month_text, parse_month
from shared import regions
from shared.ids import IdNumberError, parse_id_number


def _month(value: Any) -> date:
    if isinstance(value, date):
        return value.replace(day=1)
    if not isinstance(value, str):
        raise PydanticCustomError("month", "a month is a string YYYY-MM")
    try:
        month = parse_month(value.strip())
    except ValueError:
        raise PydanticCustomError("month", "a month is a string YYYY-MM") from None
    if not 1900 <= month.year <= 2200:
        raise PydanticCustomError("month", "month out of range")
    return month


Month = Annotated[
    date,
    BeforeValidator(_month),
    PlainSerializer(month_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d{4}-\d{2}$", "examples": ["2020-06"]}),
]
"""A calendar month ``YYYY-MM`` (held as the month's first day)."""


def _id_number(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("format", "ID number must be a string")
    try:
        return parse_id_number(value).number
    except IdNumberError as exc:
        raise PydanticCustomError(exc.code, exc.message) from None


IdNumber = Annotated[
    str,
    BeforeValidator(_id_number),
    WithJsonSchema({"type": "string", "examples": ["350505198001011234"],
                    "description": "resident ID number (GB 11643-1999), normalised to 18 characters"}),
]
"""A valid resident ID number, normalised (errors: format, length, birth_date, checksum)."""


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("name", "a name is a string")
    text = unicodedata.normalize("NFC", value.strip())
    if not 1 <= len(text) <= 100:
        raise PydanticCustomError("name", "a name has 1 to 100 characters")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in text):
        raise PydanticCustomError("name", "a name may not contain control or unassigned characters")
    return text


Name = Annotated[str, BeforeValidator(_name), WithJsonSchema({"type": "string", "examples": ["王𠮷"]})]
"""A person's name in any Unicode script, characters outside the BMP included (NFC-normalised)."""


def _town(value: Any) -> str:
    if not isinstance(value, str) or not regions.is_town(value):
        raise PydanticCustomError("unknown_town", "unknown town: use one of the district's 9-digit town codes")
    return value


def _village(value: Any) -> str:
    if not isinstance(value, str) or not regions.is_village(value):
        raise PydanticCustomError("unknown_village", "unknown village: use a 12-digit village code")
    return value


TownCode = Annotated[str, BeforeValidator(_town), WithJsonSchema({"type": "string", "examples": ["350505100"]})]
VillageCode = Annotated[str, BeforeValidator(_village), WithJsonSchema({"type": "string", "examples": ["350505100001"]})]
