"""Database plumbing every service shares: engine, naming convention, unit of work.

Each service owns one PostgreSQL database. Its Alembic environment targets two metadata objects:
the service's own (``Base.metadata`` built with :func:`new_metadata`) and :data:`InfraBase.metadata`,
the infrastructure tables every service database holds (outbox, inbox, dead letters, idempotency
records, loaded calendar years).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from shared.clock import Clock

# Stable constraint names, so Alembic autogenerate and `alembic check` agree across machines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with the suite's naming convention (one per service)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class InfraBase(DeclarativeBase):
    """Declarative base of the infrastructure tables present in every service's database."""

    metadata = new_metadata()


def asyncpg_url(url: str) -> str:
    """Normalise ``postgresql://`` / ``postgres://`` URLs to the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine with explicit pool limits and a pre-ping (connections survive a DB restart)."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


class UnitOfWork:
    """One business transaction: state changes and the events they cause commit together.

    Use as ``async with uow: …; await uow.commit()``. Leaving the block without ``commit()``
    rolls everything back, events included (cosmicpython's rule: explicit commit, implicit
    rollback). ``emit()`` stages a CloudEvent in the outbox table within the same transaction;
    after a successful commit ``on_commit`` wakes the relay that publishes it.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        source: str,
        clock: Clock,
        correlation_id: str | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self.source = source
        self.clock = clock
        self.correlation_id = correlation_id
        self._on_commit = on_commit
        self.session: AsyncSession
        self.emitted: list[Any] = []
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.emitted = []
        self._committed = False
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    def now(self) -> datetime:
        """The injected clock's time (aware, UTC)."""
        return self.clock.now()

    def emit(self, event_type: str, data: Any, *, subject: str | None = None) -> Any:
        """Stage event ``event_type`` (``<service>.<entity>.<verb-past>``) with ``data``.

        ``data`` is a pydantic model or a JSON-able mapping; ``subject`` is the CloudEvents
        subject (the id of the entity concerned). Returns the envelope.
        """
        from shared.events.envelope import new_event
        from shared.events.models import OutboxEvent

        event = new_event(
            event_type,
            data,
            source=self.source,
            subject=subject,
            time=self.clock.now(),
            correlation_id=self.correlation_id,
        )
        self.session.add(OutboxEvent.from_envelope(event))
        self.emitted.append(event)
        return event

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True
        if self.emitted and self._on_commit is not None:
            self._on_commit()

    async def rollback(self) -> None:
        await self.session.rollback()
