"""The outbox relay: publishes committed outbox rows to JetStream and marks them published.

Delivery is at least once. Each row is published with ``Nats-Msg-Id`` = event id, so a retry of
a publish whose ack was lost (the server stored it, the client timed out) is dropped by JetStream
inside the stream's duplicate window and acked with ``duplicate=True``; consumers' inboxes catch
anything older. Rows are claimed with ``FOR UPDATE SKIP LOCKED``: several replicas of a service
never publish the same row in the same moment. Published rows are deleted once older than the
retention (24 h by default), in the relay's idle time.

The relay's own statements go straight to the asyncpg connection under a session (one asyncpg
transaction per pass): through SQLAlchemy each statement costs several times its round trip in
CPU, and under load a pass runs after nearly every commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events.models import OutboxEvent

log = structlog.get_logger("shared.events.relay")

_MAX_BACKOFF = 2.0
_TABLE = OutboxEvent.__tablename__
# Oldest unpublished rows first (the partial index ix_outbox_events_unpublished serves both).
_ANY_PENDING = f"SELECT 1 FROM {_TABLE} WHERE published_at IS NULL LIMIT 1"
_CLAIM = (
    f"SELECT seq, event_id, event_type, envelope::text FROM {_TABLE} WHERE published_at IS NULL"
    " ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_MARK_PUBLISHED = f"UPDATE {_TABLE} SET published_at = now() WHERE seq = ANY($1::bigint[])"
_MARK_FAILED = (
    f"UPDATE {_TABLE} SET attempts = attempts + 1, last_error = $2 WHERE seq = ANY($1::bigint[])"
)
_PRUNE = (
    f"DELETE FROM {_TABLE} WHERE seq IN (SELECT seq FROM {_TABLE}"
    " WHERE published_at < now() - make_interval(secs => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)"
)


class PublishError(RuntimeError):
    """A pass published some rows (``published``) and then failed; the rest stay pending."""

    def __init__(self, published: int, failed: int, cause: BaseException) -> None:
        super().__init__(f"{failed} event(s) not published: {type(cause).__name__}")
        self.published = published
        self.failed = failed
        self.cause = cause


class OutboxRelay:
    """Moves outbox rows of one service database to JetStream.

    ``session_factory``: the service's sessionmaker. ``js``: a JetStream context. ``batch_size``:
    rows per pass, all published concurrently (one ack round trip for the batch, not one per
    event). ``interval``: seconds between passes when nobody calls :meth:`wake`.
    ``publish_timeout``: seconds to wait for the acks of a batch. ``ready``: optional callable,
    False while NATS is unreachable, so passes are skipped instead of piling publishes into the
    client's reconnect buffer. ``retention``: seconds a published row is kept (None: forever);
    older ones are deleted ``prune_batch`` at a time, at most every ``prune_every`` seconds,
    while the relay has nothing to publish.
    """

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        batch_size: int = 100,
        interval: float = 0.2,
        publish_timeout: float = 5.0,
        ready: Callable[[], bool] | None = None,
        retention: float | None = 24 * 3600.0,
        prune_every: float = 300.0,
        prune_batch: int = 1000,
    ) -> None:
        self._session_factory = session_factory
        self._js = js
        self.batch_size = batch_size
        self.interval = interval
        self.publish_timeout = publish_timeout
        self._ready = ready
        self.retention = retention
        self.prune_every = prune_every
        self.prune_batch = prune_batch
        self._wakeup = asyncio.Event()
        self._next_prune = 0.0  # monotonic time; the first idle moment prunes

    def wake(self) -> None:
        """Ask for a pass now (pass as ``UnitOfWork(on_commit=relay.wake)``). Never raises."""
        self._wakeup.set()

    async def publish_pending(self, *, probe: bool = False) -> int:
        """Publish up to ``batch_size`` unpublished rows, oldest first; returns how many.

        Rows whose publish was acked (a duplicate ack included) get ``published_at``; the others
        get ``attempts + 1`` and ``last_error`` and stay pending, and :class:`PublishError` is
        raised after that bookkeeping is committed. Database errors propagate (nothing is marked).
        Returns 0 without touching the database while ``ready()`` is False. ``probe``: first
        look for a pending row without a transaction (one round trip instead of three when
        there is none: the periodic pass).
        """
        if self._ready is not None and not self._ready():
            return 0
        async with self._session_factory() as session:
            driver = await _driver(session)
            if probe and await driver.fetchval(_ANY_PENDING) is None:
                return 0
            async with driver.transaction():
                rows = await driver.fetch(_CLAIM, self.batch_size)
                if not rows:
                    return 0
                acked, failed, cause = await self._publish(rows)
                if acked:
                    await driver.execute(_MARK_PUBLISHED, acked)
                if failed:
                    await driver.execute(_MARK_FAILED, failed, _describe(cause)[:1000])
        if acked:
            log.debug("events.relay.published", count=len(acked))
        if failed:
            assert cause is not None
            raise PublishError(len(acked), len(failed), cause)
        return len(acked)

    async def prune_published(self) -> int:
        """Delete rows published more than ``retention`` seconds ago; returns how many.

        Batches of ``prune_batch`` rows, each its own statement; after the first batch it stops
        early when :meth:`wake` is called (publishing comes first; the next prune goes on). Time
        is the database's, as for ``published_at``.
        """
        if self.retention is None:
            return 0
        deleted = 0
        async with self._session_factory() as session:
            driver = await _driver(session)
            while True:
                status = await driver.execute(_PRUNE, float(self.retention), self.prune_batch)
                count = int(status.rsplit(" ", 1)[-1])  # "DELETE <n>"
                deleted += count
                if count < self.prune_batch or self._wakeup.is_set():
                    break
        if deleted:
            log.info("events.relay.pruned", count=deleted)
        return deleted

    async def _publish(self, rows: list) -> tuple[list[int], list[int], BaseException | None]:
        """Send every row, then wait for all acks at once; returns (acked seqs, failed seqs, error)."""
        futures: list[asyncio.Future] = []
        cause: BaseException | None = None
        try:
            for _seq, event_id, event_type, body in rows:
                # Sent in seq order on one connection, so the stream stores them in that order.
                futures.append(
                    await self._js.publish_async(
                        event_type, body.encode(), headers={"Nats-Msg-Id": event_id}
                    )
                )
        except Exception as exc:  # connection closed, buffer full: the rest is not sent
            cause = exc
        if futures:
            try:
                await asyncio.wait(futures, timeout=self.publish_timeout)
            finally:
                # A cancelled future frees its slot in nats-py's window of pending async publishes.
                for future in futures:
                    future.cancel()
        acked: list[int] = []
        failed: list[int] = []
        for index, row in enumerate(rows):
            future = futures[index] if index < len(futures) else None
            if future is not None and future.done() and not future.cancelled() and future.exception() is None:
                acked.append(row[0])  # a PubAck with duplicate=True is a success too
                continue
            failed.append(row[0])
            if cause is None:
                error = None if future is None or future.cancelled() else future.exception()
                cause = error or TimeoutError(f"no publish ack within {self.publish_timeout}s")
        return acked, failed, cause

    async def run_forever(self) -> None:
        """Pass after pass until cancelled: at once while batches come full, else on wake or interval.

        Any failure (NATS down, database down) is logged as ``events.relay.failed`` and retried
        after a backoff of up to 2 s; the retry republishes with the same ``Nats-Msg-Id``. When
        a pass leaves nothing behind, old published rows are pruned (at most every
        ``prune_every`` s).
        """
        failures = 0
        woken = True
        while True:
            # Cleared before the pass: a wake arriving while it runs makes the wait below return
            # at once, so an event committed just after our SELECT does not wait for the interval.
            self._wakeup.clear()
            try:
                published = await self.publish_pending(probe=not woken)
                failures = 0
                if published < self.batch_size and time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + self.prune_every
                    await self.prune_published()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(self.interval * 2 ** (failures - 1), _MAX_BACKOFF)
                log.warning("events.relay.failed", error_type=type(_root(exc)).__name__,
                            failures=failures, retry_in=round(delay, 3))
                await asyncio.sleep(delay)
                woken = True
                continue
            if published >= self.batch_size:
                woken = True
                continue
            woken = False
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wakeup.wait()
                    woken = True


async def _driver(session: AsyncSession):
    """The asyncpg connection under ``session`` (checked out from the engine's pool)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def _root(exc: BaseException) -> BaseException:
    return exc.cause if isinstance(exc, PublishError) else exc


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc is not None else "unknown"
