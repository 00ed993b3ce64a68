"""Administrator-loaded working-day arrangements, as each service keeps them.

The gateway owns ``PUT /api/v1/calendar/years/{year}``; it stores the year and emits
``gateway.calendar.year_loaded``. Every service records the year in its own ``calendar_years``
table through :func:`record_year_loaded` (registered for it by ``shared.app``) and builds its
:class:`~shared.calendar.WorkingDayCalendar` from that table, so a loaded year takes precedence
over chinesecalendar's data and over the Monday–Friday fallback.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shared.calendar import WorkingDayCalendar, YearArrangement
from shared.db import InfraBase

YEAR_LOADED = "gateway.calendar.year_loaded"


class CalendarYear(InfraBase):
    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    holidays: Mapped[list[str]] = mapped_column(JSONB)
    workdays: Mapped[list[str]] = mapped_column(JSONB)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


def arrangement_from_row(row: CalendarYear) -> YearArrangement:
    return YearArrangement(
        year=row.year,
        holidays=frozenset(date.fromisoformat(d) for d in row.holidays),
        workdays=frozenset(date.fromisoformat(d) for d in row.workdays),
    )


async def load_calendar(session: AsyncSession) -> WorkingDayCalendar:
    """The working-day calendar with every year loaded into this database."""
    rows = (await session.scalars(select(CalendarYear))).all()
    return WorkingDayCalendar({row.year: arrangement_from_row(row) for row in rows})


async def store_year(session: AsyncSession, year: int, holidays: list[str], workdays: list[str]) -> None:
    """Insert or replace the arrangement of ``year`` (dates as ISO strings)."""
    statement = insert(CalendarYear).values(year=year, holidays=sorted(holidays), workdays=sorted(workdays))
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[CalendarYear.year],
            set_={"holidays": statement.excluded.holidays, "workdays": statement.excluded.workdays, "loaded_at": text("now()")},
        )
    )


def year_loaded_payload(arrangement: YearArrangement) -> dict[str, Any]:
    return {
        "year": arrangement.year,
        "holidays": sorted(d.isoformat() for d in arrangement.holidays),
        "workdays": sorted(d.isoformat() for d in arrangement.workdays),
    }
