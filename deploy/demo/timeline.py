"""The demo's clock-driven schedule: China's working days and a queue of dated steps.

The replay is a set of small processes (an application going through its steps, a relief case
being paid, a payment run, a wish being pledged …). Each step is put on the :class:`Timeline` at
an instant of the demo year; the timeline sets the suite's clock to each instant in turn
(``PUT /api/v1/admin/clock``, not running) and runs the steps due then, concurrently. A step may
put further steps on the timeline (never in the past).

Working days are the State Council's (the ``chinesecalendar`` package: 2020's extended Spring
Festival, make-up days included); staff act on working days.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import traceback
from time import monotonic
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from deploy.demo.client import Progress

TZ = ZoneInfo("Asia/Shanghai")

# The State Council's notice of 26 January 2020 (国办发明电〔2020〕1号) extended the Spring Festival
# holiday to 2 February and cancelled the make-up working day of Saturday 1 February. The
# chinesecalendar package holds the arrangement as extended; the one announced in November 2019
# (国办发明电〔2019〕16号) differs from it by these days only.
SPRING_FESTIVAL_EXTENSION = {"holidays": (date(2020, 1, 31),), "cancelled_workdays": (date(2020, 2, 1),)}


@functools.cache
def is_workday(day: date) -> bool:
    """An official working day (make-up Saturdays and Sundays included)."""
    return chinese_calendar.is_workday(day)


def year_arrangement(year: int) -> dict[str, list[str]]:
    """The year's official arrangement as ``PUT /api/v1/calendar/years/{year}`` takes it, built
    from chinesecalendar: ``holidays`` = Monday–Friday days off, ``workdays`` = working weekends."""
    holidays, workdays = [], []
    day = date(year, 1, 1)
    while day.year == year:
        working = chinese_calendar.is_workday(day)
        if day.weekday() < 5 and not working:
            holidays.append(day.isoformat())
        elif day.weekday() >= 5 and working:
            workdays.append(day.isoformat())
        day += timedelta(days=1)
    return {"holidays": holidays, "workdays": workdays}


def announced_2020() -> dict[str, list[str]]:
    """2020 as announced in November 2019, before the Spring Festival extension."""
    final = year_arrangement(2020)
    extension = {d.isoformat() for d in SPRING_FESTIVAL_EXTENSION["holidays"]}
    cancelled = [d.isoformat() for d in SPRING_FESTIVAL_EXTENSION["cancelled_workdays"]]
    return {"holidays": [d for d in final["holidays"] if d not in extension], "workdays": sorted(final["workdays"] + cancelled)}


def next_workday(day: date, *, include: bool = False) -> date:
    """The first working day after ``day`` (or ``day`` itself when ``include`` and it is one)."""
    if include and is_workday(day):
        return day
    day += timedelta(days=1)
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def add_workdays(day: date, n: int) -> date:
    """The ``n``-th working day after ``day`` (R-TR-2's counting)."""
    for _ in range(n):
        day = next_workday(day)
    return day


# Field work (visits, deliveries, assessments, the steps of applications …) is replayed on the
# working Tuesdays and Thursdays: fewer distinct days, so fewer clock settings and fewer daily
# sweeps of the services, without changing any rule's outcome.
FIELD_WEEKDAYS = (1, 3)


def is_field_day(day: date) -> bool:
    return day.weekday() in FIELD_WEEKDAYS and is_workday(day)


def field_day(day: date) -> date:
    """The first field day (a working Tuesday or Thursday) on or after ``day``."""
    while not is_field_day(day):
        day += timedelta(days=1)
    return day


def last_field_day(day: date, not_before: date) -> date | None:
    """The last field day on or before ``day`` and not before ``not_before`` (None if none)."""
    while day >= not_before:
        if is_field_day(day):
            return day
        day -= timedelta(days=1)
    return None


def workdays_of(year: int, month: int) -> list[date]:
    """The working days of a month, in order."""
    return list(_workdays_of(year, month))


@functools.cache
def _workdays_of(year: int, month: int) -> tuple[date, ...]:
    day, out = date(year, month, 1), []
    while day.month == month:
        if is_workday(day):
            out.append(day)
        day += timedelta(days=1)
    return tuple(out)


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """``day`` at ``hour:minute`` in Asia/Shanghai."""
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


Step = Callable[[], Awaitable[None]]


@dataclass(order=True)
class _Item:
    when: datetime
    order: int
    seq: int
    step: Step = field(compare=False)
    label: str = field(compare=False)


@dataclass
class Failure:
    label: str
    when: datetime
    error: BaseException
    trace: str


class Timeline:
    """Steps by instant; :meth:`run` replays them in order, setting the clock to each instant.

    ``set_clock(instant)`` is awaited before the steps of an instant. Steps at one instant run
    concurrently, in ``order`` groups (lower first). A step that raises is recorded in
    :attr:`failures` (the replay goes on); :attr:`done` counts finished steps per label.
    """

    def __init__(self, set_clock: Callable[[datetime], Awaitable[None]], *, quiet: bool = False) -> None:
        self._heap: list[_Item] = []
        self._seq = itertools.count()
        self._set_clock = set_clock
        self.now: datetime | None = None
        self.failures: list[Failure] = []
        self.done: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()  # time spent in the steps of each label (they overlap)
        self.tick_seconds: Counter[str] = Counter()  # wall time of the instants, by what ran then
        self.quiet = quiet
        self._months: dict[tuple[int, int], Progress] = {}
        self.month_seconds: dict[str, float] = {}

    def _progress(self, when: datetime) -> Progress:
        key = (when.year, when.month)
        if key not in self._months:
            self._months[key] = Progress(f"{when.year}-{when.month:02d}", quiet=self.quiet)
        return self._months[key]

    def at(self, when: datetime, step: Step, label: str, *, order: int = 50) -> None:
        """Run ``step`` at ``when`` (an aware datetime, not before the current instant)."""
        if self.now is not None and when < self.now:
            when = self.now  # late work is done at once
        heapq.heappush(self._heap, _Item(when, order, next(self._seq), step, label))
        self._progress(when).add()

    def on(self, day: date, step: Step, label: str, *, hour: int = 9, order: int = 50) -> None:
        """Run ``step`` on ``day`` in the session of ``hour``: the morning (09:00), the afternoon
        (14:00) or the evening (20:00). Few distinct instants keep the clock settings few."""
        slot = 9 if hour < 12 else 14 if hour < 18 else 20
        self.at(at(day, slot), step, label, order=order)

    def on_field(self, day: date, step: Step, label: str, *, hour: int = 9, order: int = 50) -> None:
        """Run ``step`` on the first field day on or after ``day``."""
        self.on(field_day(day), step, label, hour=hour, order=order)

    @property
    def pending(self) -> int:
        return len(self._heap)

    async def _run_one(self, item: _Item) -> None:
        started = monotonic()
        try:
            await item.step()
            self.done[item.label] += 1
            self.seconds[item.label] += monotonic() - started
        except Exception as exc:  # recorded; the replay goes on
            self.failures.append(Failure(item.label, item.when, exc, traceback.format_exc()))
        finally:
            self._progress(item.when).step()

    async def run(self, until: datetime) -> None:
        """Replay every step due up to ``until`` (inclusive), instant by instant."""
        current_month: tuple[int, int] | None = None
        while self._heap and self._heap[0].when <= until:
            when = self._heap[0].when
            month = (when.year, when.month)
            if month != current_month:
                if current_month is not None:
                    self._finish_month(current_month)
                self._progress(when).restart()
            current_month = month
            if when != self.now:
                await self._set_clock(when)
                self.now = when
            while self._heap and self._heap[0].when == when:
                order = self._heap[0].order
                batch = []
                while self._heap and self._heap[0].when == when and self._heap[0].order == order:
                    batch.append(heapq.heappop(self._heap))
                started = monotonic()
                await asyncio.gather(*(self._run_one(item) for item in batch))
                self.tick_seconds[max(batch, key=lambda i: i.label).label if len(batch) == 1 else
                                  "+".join(sorted({i.label.split(".")[0] for i in batch}))] += monotonic() - started
        if current_month is not None:
            self._finish_month(current_month)

    def _finish_month(self, month: tuple[int, int]) -> None:
        progress = self._months.get(month)
        if progress is None or month_label(month) in self.month_seconds:
            return
        failed = sum(1 for f in self.failures if (f.when.year, f.when.month) == month)
        self.month_seconds[month_label(month)] = progress.finish(f"{failed} failed" if failed else "")


def month_label(month: tuple[int, int]) -> str:
    return f"{month[0]}-{month[1]:02d}"
