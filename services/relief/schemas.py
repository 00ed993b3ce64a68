"""Field types shared by the relief service's request bodies (validation → 422 with a code)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from shared.calendar import TZ
from shared.ids import IdNumberError, parse_id_number
from shared.money import MoneyError, format_yuan, parse_wire_yuan
from shared.regions import is_town, is_village


def _town(value: str) -> str:
    if not is_town(value):
        raise PydanticCustomError("unknown_town", "unknown town (镇/街道) division code: {value}", {"value": value})
    return value


def _village(value: str) -> str:
    if not is_village(value):
        raise PydanticCustomError("unknown_village", "unknown village (村/居) division code: {value}", {"value": value})
    return value


def _relief_amount(value: Any) -> Decimal:
    """A requested/approved relief amount: a positive decimal string of whole fen (API.md), else
    ``invalid_amount`` (the reason, e.g. ``not_a_string`` for a JSON number, in the message)."""
    try:
        amount = parse_wire_yuan(value)
    except MoneyError as exc:
        raise PydanticCustomError("invalid_amount", "invalid amount ({reason}): {message}",
                                  {"reason": exc.code, "message": exc.message}) from None
    if amount <= 0:
        raise PydanticCustomError("invalid_amount", "invalid amount (not_positive): the amount must be greater than 0")
    return amount


def _id_number(value: str) -> str:
    try:
        return parse_id_number(value).number
    except IdNumberError as exc:
        raise PydanticCustomError(exc.code, "resident ID number: {message}", {"message": exc.message}) from None


TownCode = Annotated[str, Field(min_length=1, max_length=20, examples=["350505100"]), AfterValidator(_town)]
"""A town or street office (镇/街道) by its 9-digit division code; error code ``unknown_town``."""

VillageCode = Annotated[str, Field(min_length=1, max_length=20, examples=["350505100001"]), AfterValidator(_village)]
"""A village or community (村/居) by its 12-digit code; error code ``unknown_village``."""

ReliefAmount = Annotated[
    Decimal,
    BeforeValidator(_relief_amount),
    PlainSerializer(format_yuan, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "examples": ["2500.00"],
                    "description": "yuan > 0, a decimal string with at most two places"}),
]
"""Yuan > 0 in whole fen (``"2500.00"``); anything else (0, negative, sub-fen, not a number) is
refused with code ``invalid_amount`` (the reason in the message); JSON numbers and white space too."""

IdNumber = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_id_number)]
"""A resident ID number (GB 11643-1999), normalised to 18 characters; codes ``format``,
``length``, ``birth_date``, ``checksum``."""


def _shanghai(value: datetime) -> datetime:
    return value.astimezone(TZ) if value.tzinfo is not None else value


LocalDatetime = Annotated[datetime, AfterValidator(_shanghai)]
"""An instant shown with the Asia/Shanghai offset (``2020-05-12T00:00:00+08:00``), whatever zone
the database returned it in."""
