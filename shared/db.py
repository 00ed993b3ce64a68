"""Database plumbing every service shares: engine, naming convention, unit of work.

Each service owns one PostgreSQL database. Its Alembic environment targets two metadata objects:
the service's own (``Base.metadata`` built with :func:`new_metadata`) and :data:`InfraBase.metadata`,
the infrastructure tables every service database holds (outbox, inbox, dead letters, idempotency
records, loaded calendar years).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction

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


def make_engine(url: str, *, pool_size: int = 10, ping_after_idle: float = 2.0) -> AsyncEngine:
    """An async engine with explicit pool limits whose pooled connections survive a DB restart.

    No ``pool_pre_ping``: with asyncpg it costs three round trips (BEGIN, ``;``, ROLLBACK) on every
    checkout, more than a typical unit of work's own statements. Instead, on checkout (see
    :func:`_check_on_checkout`) a connection the server has closed is replaced without a round trip
    (asyncpg notices the closed socket), and only a connection idle for more than
    ``ping_after_idle`` seconds is pinged first. The pool is LIFO, so under load the same few
    connections stay busy and are never pinged, and ``pool_recycle`` renews every connection
    after 30 minutes. A connection that breaks in use raises as before and makes SQLAlchemy
    invalidate the whole pool (the next checkouts reconnect). ``hide_parameters``: errors never
    quote the statement's parameters (personal data).
    """
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_use_lifo=True,
        pool_recycle=1800,
        # A DBAPI error's message (and so its traceback in a log line) never carries the
        # statement's parameters: they hold names, ID numbers, addresses, password hashes.
        hide_parameters=True,
    )
    _check_on_checkout(engine, ping_after_idle)
    return engine


def _check_on_checkout(engine: AsyncEngine, ping_after_idle: float) -> None:
    """Pool listeners replacing dead connections on checkout (the cheap pre-ping)."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = getattr(dbapi_connection, "_connection", None)  # the asyncpg connection
        if driver is not None and driver.is_closed():
            raise exc.DisconnectionError("connection closed by the server")
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= ping_after_idle:
            return  # new, or used a moment ago
        try:
            # Runs inside SQLAlchemy's greenlet (checkout happens in a sync call), as pre-ping does.
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # What a failed pre-ping does: the server went away, renew every pooled connection.
            raise exc.InvalidatePoolError(f"ping failed: {type(error).__name__}") from error


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


# Session.info key of the events a unit of work emitted and has not written yet.
_STAGED = "shared.db.staged_events"
# The outbox row of an emitted event (table outbox_events of shared.events.models.OutboxEvent).
_OUTBOX_INSERT = "INSERT INTO outbox_events (event_id, event_type, envelope) VALUES ($1, $2, $3::text::jsonb)"


class UnitOfWork:
    """One business transaction: state changes and the events they cause commit together.

    Use as ``async with uow: …; await uow.commit()``. Leaving the block without ``commit()``
    rolls everything back, events included (cosmicpython's rule: explicit commit, implicit
    rollback). ``emit()`` stages a CloudEvent; ``commit()`` writes the staged events to the
    outbox table in the same transaction, just before committing it, and after a successful
    commit ``on_commit`` wakes the relay that publishes them. An event emitted inside a
    savepoint (``session.begin_nested()``) that is rolled back is dropped with it; a rollback
    of the whole transaction drops them all. (So the outbox rows of this unit's own events are
    not visible to its own queries before the commit.)
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
        self._staged: list[tuple[Any, tuple[str, str, str]]] = []
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.emitted = []
        self._staged = []
        self.session.sync_session.info[_STAGED] = self._staged
        self._committed = False
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            self._staged.clear()
            await self.session.close()

    def now(self) -> datetime:
        """The injected clock's time (aware, UTC)."""
        return self.clock.now()

    def emit(self, event_type: str, data: Any, *, subject: str | None = None) -> Any:
        """Stage event ``event_type`` (``<service>.<entity>.<verb-past>``) with ``data``.

        ``data`` is a pydantic model or a JSON-able mapping; ``subject`` is the CloudEvents
        subject (the id of the entity concerned). Returns the envelope; its outbox row is
        written by :meth:`commit`.
        """
        from shared.events.envelope import new_event

        event = new_event(
            event_type,
            data,
            source=self.source,
            subject=subject,
            time=self.clock.now(),
            correlation_id=self.correlation_id,
        )
        # Tagged with the innermost savepoint, if any: its rollback drops the event.
        savepoint = self.session.sync_session.get_nested_transaction()
        self._staged.append((savepoint, (event.id, event.type, event.model_dump_json(exclude_none=True))))
        self.emitted.append(event)
        return event

    async def commit(self) -> None:
        await self._write_staged()
        await self.session.commit()
        self._committed = True
        if self.emitted and self._on_commit is not None:
            self._on_commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def _write_staged(self) -> None:
        """Insert the staged events' outbox rows, in emit order, in the session's transaction.

        Straight through the asyncpg connection when its transaction is open (the usual case:
        the unit of work ran statements): one prepared INSERT instead of an ORM flush, which
        cost several times the round trip in CPU. Otherwise through SQLAlchemy, which begins
        the transaction.
        """
        if not self._staged:
            return
        rows = [row for _savepoint, row in self._staged]
        self._staged.clear()
        connection = await self.session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if driver.is_in_transaction():
            if len(rows) == 1:
                await driver.execute(_OUTBOX_INSERT, *rows[0])
            else:
                await driver.executemany(_OUTBOX_INSERT, rows)
        else:
            await connection.exec_driver_sql(_OUTBOX_INSERT, rows)  # asyncpg's $n parameters


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back_events(session: Session, previous: SessionTransaction) -> None:
    """Forget the staged events of what was rolled back: a savepoint, or the whole transaction."""
    staged = session.info.get(_STAGED)
    if not staged:
        return
    boundary = previous  # what the database rolled back: the savepoint or root around it
    while boundary.parent is not None and not boundary.nested:
        boundary = boundary.parent
    if boundary.parent is None:
        staged.clear()
        return
    staged[:] = [item for item in staged if not _inside(item[0], boundary)]


def _inside(savepoint: SessionTransaction | None, boundary: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is boundary:
            return True
        savepoint = savepoint.parent
    return False
