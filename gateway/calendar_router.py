"""Working-day calendar, served by the gateway itself (``/api/v1/calendar``).

``PUT /years/{year}`` (district_admin) loads a year's official arrangement: it is validated
(422 with the calendar's code: ``wrong_year``, ``holiday_on_weekend``, ``workday_on_weekday``,
``overlap``), stored in the gateway's ``calendar_years`` and, in the same transaction, emitted as
``gateway.calendar.year_loaded`` so every service stores it too. ``GET /years/{year}`` shows the
arrangement in force and its source. ``POST /deadline:evaluate`` is the R-TR-2 calculator.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

import structlog
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from gateway.ratelimit import enforce_rate_limit
from shared.app import get_uow
from shared.auth import DISTRICT_ADMIN, Principal, authenticated, require_roles
from shared.calendar import TZ, CalendarError, WorkingDayCalendar, validate_arrangement, working_day_deadline
from shared.calendar_store import YEAR_LOADED, load_calendar, store_year, year_loaded_payload
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.timestamps import BusinessDatetime

log = structlog.get_logger("gateway.calendar")
router = APIRouter(prefix="/api/v1/calendar", tags=["calendar"], dependencies=[Depends(enforce_rate_limit)])
Year = Path(ge=1949, le=2200, description="Calendar year, e.g. 2021")


class YearIn(BaseModel):
    """``holidays``: Monday–Friday days off; ``workdays``: make-up working Saturdays/Sundays."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[date] = Field(default_factory=list, max_length=366)
    workdays: list[date] = Field(default_factory=list, max_length=366)


class YearOut(BaseModel):
    year: int
    holidays: list[date]
    workdays: list[date]
    source: Literal["loaded", "chinesecalendar", "weekdays"]
    provisional: bool


class DeadlineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: BusinessDatetime = Field(description="Acceptance time, RFC 3339 with an offset, 1950 .. 2099")
    working_days: int = Field(5, ge=1, le=250)


class DeadlineOut(BaseModel):
    deadline_date: date
    deadline_at: datetime
    provisional: bool
    working_days: int
    rule: str = "R-TR-2"
    trace: dict[str, object]


def _arrangement_of(calendar: WorkingDayCalendar, year: int) -> YearOut:
    """A year's days off on Mon–Fri and working Sat/Sun, as the calendar sees them."""
    holidays, workdays = [], []
    day = date(year, 1, 1)
    while day.year == year:
        working = calendar.is_working_day(day)
        if day.weekday() < 5 and not working:
            holidays.append(day)
        elif day.weekday() >= 5 and working:
            workdays.append(day)
        day += timedelta(days=1)
    source = calendar.source_of(year)
    return YearOut(year=year, holidays=holidays, workdays=workdays, source=source, provisional=source == "weekdays")


@router.put("/years/{year}", response_model=YearOut)
async def load_year(
    body: YearIn,
    year: int = Year,
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> YearOut:
    """Load (or replace) ``year``'s official arrangement (district_admin); every service gets it."""
    try:
        arrangement = validate_arrangement(year, body.holidays, body.workdays)
    except CalendarError as exc:
        field = "workdays" if exc.code == "workday_on_weekday" else "holidays"
        raise Problem(422, exc.code, exc.message, errors=[{"field": field, "code": exc.code, "message": exc.message}]) from None
    payload = year_loaded_payload(arrangement)
    async with uow:
        await store_year(uow.session, year, payload["holidays"], payload["workdays"])
        uow.emit(YEAR_LOADED, payload, subject=str(year))
        await uow.commit()
    log.info("gateway.calendar.year_loaded", year=year, holidays=len(payload["holidays"]), workdays=len(payload["workdays"]))
    return YearOut(
        year=year, holidays=sorted(arrangement.holidays), workdays=sorted(arrangement.workdays),
        source="loaded", provisional=False,
    )


@router.get("/years/{year}", response_model=YearOut)
async def read_year(year: int = Year, uow: UnitOfWork = Depends(get_uow)) -> YearOut:
    """The arrangement in force for ``year`` and where it comes from: ``loaded`` (an
    administrator's), ``chinesecalendar`` (State Council data) or ``weekdays`` (Mon–Fri,
    provisional)."""
    async with uow:
        calendar = await load_calendar(uow.session)
    return _arrangement_of(calendar, year)


@router.post("/deadline:evaluate", response_model=DeadlineOut)
async def evaluate_deadline(
    body: DeadlineIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)
) -> DeadlineOut:
    """R-TR-2: the deadline ``working_days`` working days after ``start`` (any signed-in caller).

    Counting starts the working day after the acceptance date in Asia/Shanghai; the deadline is
    24:00 that day (``deadline_at``). ``provisional`` when a year without official data was used.
    422 ``timezone_aware`` (no offset), ``out_of_range`` (``start`` outside 1950-01-01 ..
    2099-12-31 Asia/Shanghai).
    """
    async with uow:
        calendar = await load_calendar(uow.session)
    try:
        deadline = working_day_deadline(body.start, body.working_days, calendar)
    except CalendarError as exc:
        raise Problem(422, exc.code, exc.message) from None
    accepted = body.start.astimezone(TZ).date()
    years = range(accepted.year, deadline.deadline_date.year + 1)
    return DeadlineOut(
        deadline_date=deadline.deadline_date,
        deadline_at=deadline.deadline_at,
        provisional=deadline.provisional,
        working_days=deadline.working_days,
        trace={
            "inputs": {"start": body.start.isoformat(), "working_days": body.working_days},
            "accepted_date": accepted.isoformat(),
            "timezone": "Asia/Shanghai",
            "calendar_sources": {str(y): calendar.source_of(y) for y in years},
            "rules": ["R-TR-2"],
        },
    )
