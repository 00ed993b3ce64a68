"""One source of time for all business code.

Business code never calls ``datetime.now()``: it asks the clock the app (or the test) injected.
In production that is :class:`SystemClock`. When the suite runs in demo or test mode the gateway
holds a :class:`ControllableClock` that an administrator sets through ``PUT /api/v1/admin/clock``;
the gateway pushes each setting to every service (``PUT /internal/clock``), and a service that
starts later asks the gateway for the current setting, so all processes agree on "now".
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Anything with ``now()`` returning an aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time (UTC)."""

    controllable = False

    def now(self) -> datetime:
        return datetime.now(UTC)


class ControllableClock:
    """A clock set from outside: frozen at an instant, or running on from it.

    ``set(now, running=False)`` freezes time (tests); ``running=True`` lets it advance with the
    wall clock from that instant (demo). ``revision`` increases with every setting so a caller
    can tell which setting a process has seen.
    """

    controllable = True

    def __init__(self, start: datetime | None = None) -> None:
        self._anchor = start or datetime.now(UTC)
        self._anchored_at = time.monotonic()
        self._running = start is None
        self.revision = 0

    def set(self, now: datetime, *, running: bool = False, revision: int | None = None) -> None:
        if now.tzinfo is None:
            raise ValueError("the clock needs an aware datetime (with an offset)")
        self._anchor = now.astimezone(UTC)
        self._anchored_at = time.monotonic()
        self._running = running
        self.revision = revision if revision is not None else self.revision + 1

    @property
    def running(self) -> bool:
        return self._running

    def now(self) -> datetime:
        if not self._running:
            return self._anchor
        from datetime import timedelta

        return self._anchor + timedelta(seconds=time.monotonic() - self._anchored_at)

    def state(self) -> dict:
        return {"now": self.now().isoformat(), "running": self._running, "revision": self.revision}


def local_today(clock: Clock) -> date:
    """Today's date in Asia/Shanghai, where every deadline of the suite is kept."""
    return clock.now().astimezone(SHANGHAI).date()
