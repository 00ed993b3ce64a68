"""Fixtures of the event-passing tests: one database per "service", a polling helper.

Every test uses its own service names (random suffix), hence its own streams and durable
consumers on the session's nats-server.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import shared.events.models  # noqa: F401 - registers the outbox, inbox and dead-letter tables
from shared.clock import SystemClock
from shared.db import InfraBase, UnitOfWork, make_engine, make_sessionmaker
from shared.events import EventBus, EventHandlers

# The handlers' "effect": one row per handled event, in the consumer's database.
test_metadata = MetaData()
effects = Table(
    "test_effects",
    test_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("note", String(200)),
)


async def eventually(
    probe: Callable[[], Any | Awaitable[Any]], *, timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll ``probe`` (sync or async) until it returns something truthy; return that value.

    Raises AssertionError with the last value seen when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
        await asyncio.sleep(interval)


def unique(prefix: str) -> str:
    """A service name unique to this test: letters and digits only (it names a stream)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass
class ServiceDb:
    """The database of one test service, schema created (infra tables and test tables)."""

    service: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    def uow(self, correlation_id: str | None = None, on_commit=None) -> UnitOfWork:
        return UnitOfWork(self.sessions, source=f"/services/{self.service}", clock=SystemClock(),
                          correlation_id=correlation_id, on_commit=on_commit)

    async def count(self, table, *where) -> int:
        async with self.sessions() as session:
            return (await session.execute(select(func.count()).select_from(table).where(*where))).scalar_one()

    async def rows(self, statement) -> list:
        async with self.sessions() as session:
            return list((await session.execute(statement)).all())


@pytest.fixture
async def service_db(databases) -> AsyncIterator[Callable[[str], Awaitable[ServiceDb]]]:
    """``await service_db("svc")`` → a fresh :class:`ServiceDb`; engines disposed after the test."""
    created: list[ServiceDb] = []

    async def make(service: str) -> ServiceDb:
        engine = make_engine(await databases.create("ev"), pool_size=10)
        async with engine.begin() as conn:
            await conn.run_sync(InfraBase.metadata.create_all)
            await conn.run_sync(test_metadata.create_all)
        db = ServiceDb(service, engine, make_sessionmaker(engine))
        created.append(db)
        return db

    yield make
    for db in created:
        await db.engine.dispose()


@pytest.fixture
def nats_url(nats_server) -> str:
    return nats_server.url


@pytest.fixture
async def buses(nats_url: str) -> AsyncIterator[Callable[..., Awaitable[EventBus]]]:
    """``await buses(db, handlers=None, **options)`` → a started EventBus; all stopped afterwards.

    Test defaults make failures and idling quick: short fetch timeout, nak delay and interval.
    """
    started: list[EventBus] = []

    async def start(db: ServiceDb, handlers: EventHandlers | None = None, **options: Any) -> EventBus:
        options = {"nats_url": nats_url, "relay_interval": 0.05, "fetch_timeout": 0.5,
                   "nak_delay": 0.05, "publish_timeout": 2.0, **options}
        bus = EventBus(service=db.service, session_factory=db.sessions, handlers=handlers, **options)
        started.append(bus)
        await bus.start()
        return bus

    yield start
    for bus in reversed(started):
        await bus.stop(grace=1.0)
