"""China's official working days with make-up days (调休), and the R-TR-2 deadline.

For each year the source of truth is, in precedence:

1. an arrangement an administrator loaded (``PUT /api/v1/calendar/years/{year}``), which the caller
   keeps in its database and passes in as :class:`YearArrangement` — this module does no I/O;
2. the ``chinesecalendar`` package (State Council arrangements; its data end with 2026);
3. Monday–Friday, and every result depending on such a year is marked **provisional**.

The calendar counts days from :data:`FIRST_DAY` (1901-01-01, when Asia/Shanghai's local mean time
+08:05 ended) to :data:`LAST_DAY` (2200-12-31); a computation leaving that range raises
:class:`~shared.errors.Problem` 422 ``out_of_range`` rather than overflowing Python's dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar

from shared.errors import Problem

TZ = ZoneInfo("Asia/Shanghai")

Source = Literal["loaded", "chinesecalendar", "weekdays"]
CalendarErrorCode = Literal["wrong_year", "holiday_on_weekend", "workday_on_weekday", "overlap", "no_working_days"]

_ONE_DAY = timedelta(days=1)
# Longest run of consecutive days off tolerated before concluding the data are broken (a real
# Spring Festival break is about 10 days; only a bogus arrangement can approach a year).
_MAX_DAYS_OFF_RUN = 400
FIRST_DAY = date(1901, 1, 1)
LAST_DAY = date(2200, 12, 31)
# Instants bounding the range; comparing aware datetimes never overflows, converting them may.
_FIRST_INSTANT = datetime.combine(FIRST_DAY, time(0), tzinfo=TZ)
_END_INSTANT = datetime.combine(LAST_DAY, time(0), tzinfo=TZ) + _ONE_DAY


def _out_of_range(what: str) -> Problem:
    return Problem(
        422, "out_of_range",
        f"{what} is outside the working-day calendar ({FIRST_DAY.isoformat()} .. {LAST_DAY.isoformat()})",
    )


def _check_day(d: date) -> None:
    if not FIRST_DAY <= d <= LAST_DAY:
        raise _out_of_range(d.isoformat())


class CalendarError(ValueError):
    """A refused year arrangement; ``code``: wrong_year, holiday_on_weekend, workday_on_weekday,
    overlap (or no_working_days when counting finds none for over a year)."""

    def __init__(self, code: CalendarErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: CalendarErrorCode = code
        self.message = message


@dataclass(frozen=True)
class YearArrangement:
    """A year's official arrangement: ``holidays`` are Monday–Friday days off, ``workdays`` are
    make-up Saturdays/Sundays. Build it with :func:`validate_arrangement` (the constructor runs the
    same checks)."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        _check_arrangement(self.year, self.holidays, self.workdays)

    def is_working_day(self, d: date) -> bool:
        """Working day under this arrangement (``d`` should be in :attr:`year`)."""
        return d in self.workdays or (d.weekday() < 5 and d not in self.holidays)


def validate_arrangement(year: int, holidays: Iterable[date], workdays: Iterable[date]) -> YearArrangement:
    """Check an administrator's arrangement for ``year`` and freeze it.

    Raises :class:`CalendarError`: ``wrong_year`` (a date outside ``year``), ``holiday_on_weekend``
    (a listed holiday on Saturday/Sunday — weekends are off anyway, list only Mon–Fri days off),
    ``workday_on_weekday`` (a make-up working day on Mon–Fri), ``overlap`` (a date in both).
    """
    return YearArrangement(year, frozenset(holidays), frozenset(workdays))


def _check_arrangement(year: int, holidays: frozenset[date], workdays: frozenset[date]) -> None:
    for d in sorted(holidays | workdays):
        if d.year != year:
            raise CalendarError("wrong_year", f"{d.isoformat()} is not in {year}")
    both = holidays & workdays
    if both:
        raise CalendarError("overlap", f"{min(both).isoformat()} is both a holiday and a working day")
    for d in sorted(holidays):
        if d.weekday() >= 5:
            raise CalendarError("holiday_on_weekend", f"holiday {d.isoformat()} is a Saturday or Sunday")
    for d in sorted(workdays):
        if d.weekday() < 5:
            raise CalendarError("workday_on_weekday", f"make-up working day {d.isoformat()} is Monday to Friday")


class WorkingDayCalendar:
    """Working days from loaded arrangements, then ``chinesecalendar``, then Monday–Friday."""

    def __init__(self, loaded: Mapping[int, YearArrangement] = MappingProxyType({})) -> None:
        """``loaded``: year -> arrangement (copied). Raises CalendarError ``wrong_year`` when a key
        differs from its arrangement's year."""
        for year, arrangement in loaded.items():
            if arrangement.year != year:
                raise CalendarError("wrong_year", f"arrangement for {arrangement.year} given as {year}")
        self._loaded: dict[int, YearArrangement] = dict(loaded)
        self._sources: dict[int, Source] = {}

    def source_of(self, year: int) -> Source:
        """Where ``year``'s working days come from: ``loaded``, ``chinesecalendar`` or ``weekdays``
        (the last means provisional)."""
        source = self._sources.get(year)
        if source is None:
            if year in self._loaded:
                source = "loaded"
            else:
                try:
                    chinese_calendar.is_workday(date(year, 1, 1))
                    source = "chinesecalendar"
                except NotImplementedError:  # outside the package's data (before 2004, after 2026)
                    source = "weekdays"
            self._sources[year] = source
        return source

    def is_provisional(self, year: int) -> bool:
        """True when ``year`` falls back to Monday–Friday."""
        return self.source_of(year) == "weekdays"

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is an official working day (Monday–Friday for a provisional year).

        Raises Problem 422 ``out_of_range`` for a day outside 1901-01-01 .. 2200-12-31."""
        if isinstance(d, datetime):  # a datetime's date would silently be taken in its own zone
            raise TypeError("is_working_day expects a date, not a datetime")
        _check_day(d)
        source = self.source_of(d.year)
        if source == "loaded":
            return self._loaded[d.year].is_working_day(d)
        if source == "chinesecalendar":
            return chinese_calendar.is_workday(d)
        return d.weekday() < 5

    def add_working_days(self, start: date, n: int) -> tuple[date, bool]:
        """The ``n``-th working day strictly after ``start`` (``n`` >= 1), and whether any year
        consulted (those of the days after ``start`` up to the result) was provisional.

        Raises ValueError if ``n`` < 1, CalendarError ``no_working_days`` if bogus data leave no
        working day for over a year, Problem 422 ``out_of_range`` if ``start`` or the result
        falls outside 1901-01-01 .. 2200-12-31.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError("n must be an integer >= 1")
        _check_day(start)
        provisional = False
        day, found, days_off = start, 0, 0
        while found < n:
            if day >= LAST_DAY:  # the next day would leave the calendar (or Python's dates)
                raise _out_of_range(f"{n} working days after {start.isoformat()}")
            day += _ONE_DAY
            provisional = provisional or self.is_provisional(day.year)
            if self.is_working_day(day):
                found, days_off = found + 1, 0
            else:
                days_off += 1
                if days_off > _MAX_DAYS_OFF_RUN:
                    raise CalendarError("no_working_days", f"no working day for a year after {start.isoformat()}")
        return day, provisional


@dataclass(frozen=True)
class Deadline:
    """A working-day deadline: it falls at ``deadline_at`` = 24:00 Asia/Shanghai of
    ``deadline_date`` (00:00 of the next day); ``provisional`` when a Monday–Friday fallback year
    was used."""

    deadline_date: date
    deadline_at: datetime
    provisional: bool
    working_days: int


def working_day_deadline(accepted_at: datetime, working_days: int, calendar: WorkingDayCalendar) -> Deadline:
    """R-TR-2: the deadline ``working_days`` working days after acceptance.

    ``accepted_at`` must be aware; it is converted to Asia/Shanghai first, so the acceptance *date*
    is the local one (20:00 UTC Thursday is Friday in Shanghai). Counting starts with the first
    working day after that date — the acceptance day never counts, even when a working day — and
    the deadline is 24:00 Asia/Shanghai of the ``working_days``-th. Raises ValueError for a naive
    ``accepted_at`` or ``working_days`` < 1, Problem 422 ``out_of_range`` when ``accepted_at`` or
    the deadline falls outside the calendar (1901-01-01 .. 2200-12-31).
    """
    if accepted_at.tzinfo is None or accepted_at.utcoffset() is None:
        raise ValueError("accepted_at must be timezone-aware")
    if not _FIRST_INSTANT <= accepted_at < _END_INSTANT:  # checked before converting: year 1 overflows
        raise _out_of_range("the acceptance time")
    if isinstance(working_days, bool) or not isinstance(working_days, int) or working_days < 1:
        raise ValueError("working_days must be an integer >= 1")
    accepted_date = accepted_at.astimezone(TZ).date()
    deadline_date, provisional = calendar.add_working_days(accepted_date, working_days)
    return Deadline(
        deadline_date=deadline_date,
        deadline_at=datetime.combine(deadline_date + _ONE_DAY, time(0), tzinfo=TZ),
        provisional=provisional,
        working_days=working_days,
    )


def years_spanned(start: date, end: date) -> set[int]:
    """The calendar years of the dates ``start`` .. ``end`` (inclusive), e.g. a deadline's
    acceptance and deadline dates: loading any of these years may move that deadline, so the
    caller recomputes it. Raises ValueError if ``end`` < ``start``."""
    if end < start:
        raise ValueError("end must not be before start")
    return set(range(start.year, end.year + 1))
