"""Fixtures of the relief service's database-level tests: a migrated database, a clock, principals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from shared.auth import Principal
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.migrations import upgrade


@dataclass
class ReliefDb:
    """A migrated relief database with a controllable clock; ``uow()`` is a service unit of work."""

    url: str
    clock: ControllableClock

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url, pool_size=5)
        self.sessions = make_sessionmaker(self.engine)

    def uow(self, correlation_id: str | None = None) -> UnitOfWork:
        return UnitOfWork(self.sessions, source="/services/relief", clock=self.clock, correlation_id=correlation_id)

    def set(self, now: str) -> None:
        self.clock.set(datetime.fromisoformat(now))


@pytest.fixture(scope="module")
async def relief_db(databases) -> AsyncIterator[ReliefDb]:
    url = await databases.create("relief")
    await asyncio.to_thread(upgrade, "relief", url)
    db = ReliefDb(url, ControllableClock(datetime.fromisoformat("2020-06-01T09:00:00+08:00")))
    yield db
    await db.engine.dispose()


def principal(role: str, town: str | None = None, subject: str | None = None) -> Principal:
    return Principal(subject=subject or f"{role}-{town or 'district'}", roles=frozenset({role}), town=town)
