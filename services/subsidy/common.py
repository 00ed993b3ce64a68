"""Types and helpers shared by the subsidy service's domain areas.

- :data:`Month` — a pydantic field type for ``YYYY-MM`` (held as the month's first day).
- month arithmetic (:func:`month_start`, :func:`add_months`, :func:`month_of`).
- :class:`Trace` — the trace every calculator and payment decision returns (API.md: inputs,
  parameter versions, intermediate figures, rule ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class MonthError(ValueError):
    """A refused month string; ``code`` is ``month_format``."""

    code = "month_format"


def parse_month(value: object) -> date:
    """``"2020-06"`` → ``date(2020, 6, 1)``; a date is truncated to its month.

    Raises :class:`MonthError` (code ``month_format``) for anything but ``YYYY-MM`` with a month
    01–12 and a year 1900–2999.
    """
    if isinstance(value, date):
        return value.replace(day=1)
    if not isinstance(value, str):
        raise MonthError("a month is a string YYYY-MM")
    match = _MONTH.fullmatch(value.strip())
    if match is None:
        raise MonthError(f"not a month YYYY-MM: {value!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and 1900 <= year <= 2999):
        raise MonthError(f"no such month: {value!r}")
    return date(year, month, 1)


def format_month(value: date) -> str:
    """``date(2020, 6, 1)`` → ``"2020-06"``."""
    return f"{value.year:04d}-{value.month:02d}"


def month_start(d: date) -> date:
    """The first day of ``d``'s month."""
    return d.replace(day=1)


def add_months(month: date, n: int) -> date:
    """The first day of the month ``n`` months after ``month``'s (``n`` may be negative)."""
    index = month.year * 12 + (month.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def month_end(month: date) -> date:
    """The last day of ``month``'s month."""
    from datetime import timedelta

    return add_months(month_start(month), 1) - timedelta(days=1)


def months_between(a: date, b: date) -> int:
    """Whole months from ``a``'s month to ``b``'s month (negative if ``b`` is earlier)."""
    return (b.year * 12 + b.month) - (a.year * 12 + a.month)


class _MonthField:
    def validate(self, value: Any) -> date:
        try:
            return parse_month(value)  # a date (Python callers) is taken as its month
        except MonthError as exc:
            raise PydanticCustomError("month_format", str(exc)) from None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(format_month, when_used="json"),
        )

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "pattern": r"^\d{4}-\d{2}$", "examples": ["2020-06"], "description": "a month, YYYY-MM"}


Month = Annotated[date, _MonthField()]
"""A month ``YYYY-MM`` on the wire, the month's first day in Python (error code ``month_format``)."""


@dataclass
class Trace:
    """What a computation used and found, returned by every calculator (API.md "calculator").

    ``rule_ids``: the POLICY rules applied; ``inputs``: the caller's figures; ``parameters``: the
    parameter versions used (key, version id, validity, value); ``figures``: intermediate and final
    figures (money as strings); ``steps``: short human-readable lines in order.
    """

    rule_ids: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    parameters: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    def rule(self, *rule_ids: str) -> None:
        for rule_id in rule_ids:
            if rule_id not in self.rule_ids:
                self.rule_ids.append(rule_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_ids": list(self.rule_ids),
            "inputs": self.inputs,
            "parameters": self.parameters,
            "figures": self.figures,
            "steps": list(self.steps),
        }


class PercentError(ValueError):
    """A refused percentage; ``code`` is ``invalid_percentage``."""

    code = "invalid_percentage"


def parse_pct(value: Any, field: str) -> Decimal:
    """A year-on-year change in percent: a decimal string (or int) with at most 2 places, in
    −50..100. Raises :class:`PercentError` (code ``invalid_percentage``)."""
    message = f"{field} must be a percentage such as \"4.3\" (at most 2 decimal places, -50 to 100)"
    if isinstance(value, bool) or isinstance(value, float) or not isinstance(value, (str, int, Decimal)):
        raise PercentError(message)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise PercentError(message) from None
    exponent = number.as_tuple().exponent
    if not number.is_finite() or not isinstance(exponent, int) or exponent < -2 or not (-50 <= number <= 100):
        raise PercentError(message)
    return number


class _PercentField:
    """A year-on-year change in percent (``"4.3"``, ``"-0.5"``): at most 2 places, −50..100."""

    def validate(self, value: Any) -> Any:
        try:
            return parse_pct(value, "value")
        except PercentError as exc:
            raise PydanticCustomError("invalid_percentage", str(exc)) from None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate, serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "pattern": r"^-?\d+(\.\d{1,2})?$", "examples": ["4.3"], "description": "percent, year on year"}


Percent = Annotated[Decimal, _PercentField()]
"""A percentage on the wire as a decimal string (error code ``invalid_percentage``)."""
