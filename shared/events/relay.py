"""The outbox relay: publishes committed outbox rows to JetStream and marks them published.

Delivery is at least once. Each row is published with ``Nats-Msg-Id`` = event id, so a retry of
a publish whose ack was lost (the server stored it, the client timed out) is dropped by JetStream
inside the stream's duplicate window and acked with ``duplicate=True``; consumers' inboxes catch
anything older. Rows are claimed with ``FOR UPDATE SKIP LOCKED``: several replicas of a service
never publish the same row in the same moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from nats.js import JetStreamContext
from sqlalchemy import Text, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events.models import OutboxEvent

log = structlog.get_logger("shared.events.relay")

_MAX_BACKOFF = 2.0


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
    client's reconnect buffer.
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
    ) -> None:
        self._session_factory = session_factory
        self._js = js
        self.batch_size = batch_size
        self.interval = interval
        self.publish_timeout = publish_timeout
        self._ready = ready
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Ask for a pass now (pass as ``UnitOfWork(on_commit=relay.wake)``). Never raises."""
        self._wakeup.set()

    async def publish_pending(self) -> int:
        """Publish up to ``batch_size`` unpublished rows, oldest first; returns how many.

        Rows whose publish was acked (a duplicate ack included) get ``published_at``; the others
        get ``attempts + 1`` and ``last_error`` and stay pending, and :class:`PublishError` is
        raised after that bookkeeping is committed. Database errors propagate (nothing is marked).
        Returns 0 without touching the database while ``ready()`` is False.
        """
        if self._ready is not None and not self._ready():
            return 0
        async with self._session_factory() as session, session.begin():
            rows = (
                await session.execute(
                    select(OutboxEvent.seq, OutboxEvent.event_id, OutboxEvent.event_type,
                           cast(OutboxEvent.envelope, Text))
                    .where(OutboxEvent.published_at.is_(None))
                    .order_by(OutboxEvent.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            acked, failed, cause = await self._publish(rows)
            if acked:
                await session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.seq.in_(acked))
                    .values(published_at=func.now())
                )
            if failed:
                await session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.seq.in_(failed))
                    .values(attempts=OutboxEvent.attempts + 1, last_error=_describe(cause)[:1000])
                )
        if acked:
            log.debug("events.relay.published", count=len(acked))
        if failed:
            assert cause is not None
            raise PublishError(len(acked), len(failed), cause)
        return len(acked)

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
        after a backoff of up to 2 s; the retry republishes with the same ``Nats-Msg-Id``.
        """
        failures = 0
        while True:
            # Cleared before the pass: a wake arriving while it runs makes the wait below return
            # at once, so an event committed just after our SELECT does not wait for the interval.
            self._wakeup.clear()
            try:
                published = await self.publish_pending()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(self.interval * 2 ** (failures - 1), _MAX_BACKOFF)
                log.warning("events.relay.failed", error_type=type(_root(exc)).__name__,
                            failures=failures, retry_in=round(delay, 3))
                await asyncio.sleep(delay)
                continue
            if published >= self.batch_size:
                continue
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wakeup.wait()


def _root(exc: BaseException) -> BaseException:
    return exc.cause if isinstance(exc, PublishError) else exc


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc is not None else "unknown"
