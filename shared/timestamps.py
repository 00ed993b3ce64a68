"""Business dates and timestamps from outside input: aware, and within a sane range.

Every event the suite records — an acceptance, a check, a visit, a death reported — happens
between :data:`EARLIEST` (1950-01-01) and :data:`LATEST` (2099-12-31). Anything outside is a typo or
an attack, and letting it in makes the working-day calendar and time-zone arithmetic overflow
(``0001-01-01`` minus eight hours is no date) or show Asia/Shanghai's local mean time (+08:05,
before 1901). Birth dates have their own rules (:mod:`shared.ids`) and do not use these types.

- :data:`BusinessDatetime`: an RFC 3339 instant with an offset (naive → ``timezone_aware``),
  from 1950-01-01T00:00 to 2099-12-31T24:00 Asia/Shanghai, else ``out_of_range``.
- :data:`BusinessDate`: a ``YYYY-MM-DD`` date from 1950-01-01 to 2099-12-31, else ``out_of_range``.
- :func:`check_datetime` / :func:`check_date` do the same for code that is not a pydantic model
  (they raise :class:`shared.errors.Problem` 422 ``out_of_range``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, WithJsonSchema
from pydantic_core import PydanticCustomError

from shared.errors import Problem

TZ = ZoneInfo("Asia/Shanghai")
EARLIEST = date(1950, 1, 1)
LATEST = date(2099, 12, 31)
OUT_OF_RANGE = "out_of_range"

# The instants bounding the range, in Asia/Shanghai (where every business day is kept).
_FIRST_INSTANT = datetime.combine(EARLIEST, time(0), tzinfo=TZ)
_END_INSTANT = datetime.combine(LATEST + timedelta(days=1), time(0), tzinfo=TZ)
_RANGE_TEXT = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def in_range_datetime(value: datetime) -> bool:
    """True when the aware ``value`` lies in [1950-01-01T00:00, 2100-01-01T00:00) Asia/Shanghai.

    Comparing aware datetimes never converts them, so even year 1 or 9999 cannot overflow here.
    Raises ValueError for a naive ``value``.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("expected a timezone-aware datetime")
    return _FIRST_INSTANT <= value < _END_INSTANT


def in_range_date(value: date) -> bool:
    """True when ``value`` (a date, not a datetime) lies in 1950-01-01 .. 2099-12-31."""
    return EARLIEST <= value <= LATEST


def check_datetime(value: datetime, what: str = "timestamp") -> datetime:
    """``value`` unchanged if :func:`in_range_datetime`, else Problem 422 ``out_of_range``."""
    if not in_range_datetime(value):
        raise Problem(422, OUT_OF_RANGE, f"{what} must be {_RANGE_TEXT} (Asia/Shanghai)")
    return value


def check_date(value: date, what: str = "date") -> date:
    """``value`` unchanged if :func:`in_range_date`, else Problem 422 ``out_of_range``."""
    if not in_range_date(value):
        raise Problem(422, OUT_OF_RANGE, f"{what} must be {_RANGE_TEXT}")
    return value


def _validate_datetime(value: datetime) -> datetime:
    if not in_range_datetime(value):
        raise PydanticCustomError(OUT_OF_RANGE, "the timestamp must be {range} (Asia/Shanghai)", {"range": _RANGE_TEXT})
    return value


def _validate_date(value: date) -> date:
    if not in_range_date(value):
        raise PydanticCustomError(OUT_OF_RANGE, "the date must be {range}", {"range": _RANGE_TEXT})
    return value


BusinessDatetime = Annotated[
    AwareDatetime,
    AfterValidator(_validate_datetime),
    WithJsonSchema({
        "type": "string", "format": "date-time", "examples": ["2020-05-12T09:30:00+08:00"],
        "description": f"RFC 3339 with an offset, {_RANGE_TEXT} (Asia/Shanghai)",
    }),
]
"""An aware instant in 1950-01-01 .. 2099-12-31 Asia/Shanghai (offset kept as given); errors
``timezone_aware`` (no offset) and ``out_of_range``."""

BusinessDate = Annotated[
    date,
    AfterValidator(_validate_date),
    WithJsonSchema({
        "type": "string", "format": "date", "examples": ["2020-05-12"],
        "description": f"YYYY-MM-DD, {_RANGE_TEXT}",
    }),
]
"""A date in 1950-01-01 .. 2099-12-31; error ``out_of_range``."""
