"""Durable JetStream pull consumers with an inbox: every event takes effect exactly once.

An event is handled in a transaction that inserts its inbox row ``(consumer, event_id)``, runs
the handler and commits; the message is acked only after the commit. A redelivery of a handled
event finds its inbox row and is acked without running the handler again; a redelivery racing a
first delivery still in progress blocks on that delivery's uncommitted inbox row (PostgreSQL
makes ``ON CONFLICT DO NOTHING`` wait for it) and then skips it, or proceeds if it rolled back.

Fetched messages are dealt out by entity (CloudEvents ``subject``) to a few lanes; each lane
handles the events that queued up for it while its previous transaction ran in one such
transaction (a transaction per event costs several round trips and was the pipeline's
bottleneck), so events of one entity are handled in stream order and the busier the consumer the
fewer transactions per event. If anything in a lane's transaction fails, its events are handled
again one transaction per event, where a failing event is nak'ed with a delay and, after
``max_deliver`` deliveries, dead-lettered; a redelivered event is always handled on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog
import structlog.contextvars
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.dialects.postgresql import insert

from shared.db import UnitOfWork
from shared.events.envelope import CloudEvent
from shared.events.models import DeadLetter, InboxEvent
from shared.events.streams import ensure_stream, service_of, stream_name
from shared.logging import describe_error

log = structlog.get_logger("shared.events.consumer")

# Extra server-side deliveries beyond ``max_deliver``: if writing the dead letter fails (database
# down) the message is nak'ed and must come back, else it would be dropped without a trace.
_SPARE_DELIVERIES = 3
_MAX_RESTART_BACKOFF = 5.0
_GRAB_TIMEOUT = 0.05
_MAX_HELD = 500
# One cached statement for the single-row and the executemany (batch) form.
_INBOX_INSERT = insert(InboxEvent).on_conflict_do_nothing().returning(InboxEvent.event_id)


class Handler(Protocol):
    """``async def handler(event: CloudEvent, *, uow: UnitOfWork) -> None``; must not commit."""

    def __call__(self, event: CloudEvent, *, uow: UnitOfWork) -> Awaitable[None]: ...


class EventHandlers:
    """Registry of event handlers of one service, by exact event type.

    ``@handlers.on("eligibility.benefit.granted")`` registers ``async def h(event, *, uow)``.
    One handler per type; registering a second raises ValueError.
    """

    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def on(self, event_type: str) -> Callable[[Handler], Handler]:
        service_of(event_type)  # validates the shape
        if event_type.count(".") < 2 or any(c in event_type for c in "*> "):
            raise ValueError(f"event type must be <service>.<entity>.<verb-past>: {event_type!r}")

        def register(handler: Handler) -> Handler:
            if event_type in self._by_type:
                raise ValueError(f"a handler for {event_type} is already registered")
            self._by_type[event_type] = handler
            return handler

        return register

    def get(self, event_type: str) -> Handler | None:
        return self._by_type.get(event_type)

    @property
    def subjects(self) -> list[str]:
        """Every registered event type (= NATS subject), sorted."""
        return sorted(self._by_type)

    @property
    def streams(self) -> dict[str, list[str]]:
        """Producing service → the subjects of its stream we consume, e.g. ``{"eligibility": [...]}``."""
        result: dict[str, list[str]] = {}
        for subject in self.subjects:
            result.setdefault(service_of(subject), []).append(subject)
        return result

    def __len__(self) -> int:
        return len(self._by_type)


class EventConsumer:
    """Consumes the registered event types from every stream they live in.

    ``name``: durable consumer name (the consuming service, e.g. ``"subsidy"``), also the inbox's
    consumer key. ``uow_factory(correlation_id)``: a fresh UnitOfWork of the consuming service.
    ``js_provider()``: the current JetStream context (called again at every re-subscription).
    ``max_deliver``: deliveries before a failing event goes to the dead letters. ``ack_wait``:
    seconds before JetStream redelivers an unacked message; while messages are held (queued or
    being handled) the consumer sends ``in_progress`` every ``ack_wait / 3`` s
    (``heartbeat=False`` turns that off). ``batch``: most messages per fetch and per
    transaction; at most ``2 × batch`` are held at once. ``concurrency``: lanes, i.e.
    transactions running at once; events with the same CloudEvents ``subject`` (entity) go to
    the same lane and stay in stream order. ``batch_transactions``: let a lane handle the events
    queued for it in one transaction (in stream order), falling back to one transaction per
    event when any of them fails; handlers must therefore never commit themselves. Off, every
    event has its own transaction. ``nak_delay``: first redelivery delay after a failure,
    doubled per delivery up to 30 s. ``fetch_timeout``: how long an idle fetch waits.
    """

    def __init__(
        self,
        *,
        name: str,
        handlers: EventHandlers,
        uow_factory: Callable[[str | None], UnitOfWork],
        js_provider: Callable[[], JetStreamContext],
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        batch: int = 50,
        concurrency: int = 8,
        nak_delay: float = 1.0,
        fetch_timeout: float = 2.0,
        heartbeat: bool = True,
        batch_transactions: bool = True,
        duplicate_window_seconds: float = 120,
    ) -> None:
        if max_deliver < 1:
            raise ValueError("max_deliver must be at least 1")
        self.name = name
        self.handlers = handlers
        self._uow_factory = uow_factory
        self._js_provider = js_provider
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.batch = batch
        self.concurrency = concurrency
        self.nak_delay = nak_delay
        self.fetch_timeout = fetch_timeout
        self.heartbeat = heartbeat
        self.batch_transactions = batch_transactions
        self._duplicate_window = duplicate_window_seconds
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._feeders: set[asyncio.Task[None]] = set()
        self.subscribed: set[str] = set()  # streams with a live subscription (health checks)

    # -- lifecycle ---------------------------------------------------------------------------

    async def run_forever(self) -> None:
        """Consume every needed stream until :meth:`stop` or cancellation. Never raises otherwise."""
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._supervise(service, subjects), name=f"consume-{service}")
            for service, subjects in self.handlers.streams.items()
        ]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop fetching, let batches in progress finish for up to ``grace`` s, then cancel."""
        self._stopping.set()
        for feeder in list(self._feeders):
            feeder.cancel()  # an idle fetch would otherwise hold the stop for fetch_timeout
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=grace)

    async def _supervise(self, service: str, subjects: list[str]) -> None:
        """Subscribe and pump; on any failure re-create the subscription after a backoff."""
        stream = stream_name(service)
        failures = 0
        while not self._stopping.is_set():
            sub = None
            try:
                js = self._js_provider()
                await ensure_stream(js, service, duplicate_window_seconds=self._duplicate_window)
                sub = await self._subscribe(js, stream, subjects)
                self.subscribed.add(stream)
                failures = 0
                await self._pump(sub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(0.1 * 2 ** failures, _MAX_RESTART_BACKOFF) * random.uniform(0.8, 1.2)
                log.warning("events.consumer.restarting", consumer=self.name, stream=stream,
                            error_type=type(exc).__name__, retry_in=round(delay, 2))
                await _wait(self._stopping, delay)
            finally:
                self.subscribed.discard(stream)
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()

    async def _subscribe(self, js: JetStreamContext, stream: str, subjects: list[str]):
        # Create-or-update (nats-server ≥ 2.10): a new handler widens the filter of the durable.
        config = ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            filter_subjects=subjects,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver + _SPARE_DELIVERIES,
        )
        await js.add_consumer(stream, config)
        sub = await js.pull_subscribe_bind(durable=self.name, stream=stream)
        log.info("events.consumer.subscribed", consumer=self.name, stream=stream, subjects=subjects)
        return sub

    async def _pump(self, sub) -> None:
        """Fetch and handle until stopping; raises on anything but an empty fetch.

        A feeder task fetches and deals the messages out to up to ``concurrency`` lanes; each
        lane handles what queued up for it in one transaction at a time, so fetching, the
        lanes' transactions and their acks overlap. Events of one entity (CloudEvents
        ``subject``) that are held at the same time go to the same lane, in stream order. The
        feeder fills a lane's queue (up to ``batch``) behind its running transaction before
        it opens another lane: transactions are as large, hence as few per event, as the flow
        allows, and lanes run in parallel only when full batches wait. On stop, fetching ends
        and the lanes finish what they hold.
        """
        lanes = [_Lane() for _ in range(max(self.concurrency, 1))]
        held: dict[int, Msg] = {}  # fetched, not yet acked / nak'ed / termed (the keep-alive's list)
        owners: dict[str, list] = {}  # entity → [lane, messages held]: an entity stays in one lane
        room = asyncio.Event()
        workers = [asyncio.create_task(self._drain(lane, held, owners, room)) for lane in lanes]
        beat = asyncio.create_task(self._keep_alive(held)) if self.heartbeat else None
        feeder = asyncio.create_task(self._feed(sub, lanes, held, owners, room))
        self._feeders.add(feeder)
        try:
            await feeder
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not (feeder.cancelled() and self._stopping.is_set()) or (current and current.cancelling()):
                for worker in workers:
                    worker.cancel()
                raise
            # stop() cancelled the feeder only: a graceful stop, the lanes finish below.
        finally:
            self._feeders.discard(feeder)
            feeder.cancel()
            for lane in lanes:
                lane.close()
            try:
                await asyncio.gather(*workers, return_exceptions=True)
            finally:
                for worker in workers:
                    worker.cancel()
                if beat is not None:
                    beat.cancel()

    async def _feed(self, sub, lanes: list[_Lane], held: dict[int, Msg], owners: dict[str, list],
                    room: asyncio.Event) -> None:
        reconnects = _reconnects(sub)
        batch = max(self.batch, 1)
        # Enough to keep every lane's next batch queued; below the server's default max_ack_pending
        # (1000 per durable) even with a second replica.
        limit = max(2 * batch, min(len(lanes) * batch, _MAX_HELD))
        idle = 0.0
        behind = 0  # messages the server still had for us after the last fetch
        while not self._stopping.is_set():
            free = limit - len(held)
            if free <= 0:
                room.clear()
                await room.wait()
                continue
            try:
                msgs = await self._fetch(sub, min(free, batch), behind)
            except TimeoutError:  # nats-py raises both its own and asyncio's TimeoutError
                # An empty fetch is normal. After a server restart the pending pull requests
                # are gone and the consumer itself may be: re-subscribe after a reconnect, and
                # check the consumer now and then while idle (raises NotFoundError if gone).
                behind = 0
                if _reconnects(sub) != reconnects:
                    raise ConnectionResetError("reconnected: re-creating the subscription") from None
                idle += self.fetch_timeout
                if idle >= 5 * self.fetch_timeout:
                    idle = 0.0
                    await sub.consumer_info()
                continue
            idle = 0.0
            behind = msgs[-1].metadata.num_pending
            for msg in msgs:
                try:
                    event: CloudEvent | None = CloudEvent.from_json_bytes(msg.data)
                except ValueError:
                    event = None
                # An unparseable message has no entity: its reply subject is unique.
                key = (event.subject or event.id) if event is not None else f"\0{msg.reply}"
                owner = owners.get(key)
                if owner is None:
                    owner = owners[key] = [_pick(lanes, batch), 0]
                owner[1] += 1
                held[id(msg)] = msg
                owner[0].add(msg, event, key)

    async def _fetch(self, sub, want: int, behind: int) -> list[Msg]:
        """Up to ``want`` messages; waits up to ``fetch_timeout`` for the first one.

        Not ``fetch(want)`` alone: a pull request for N messages that has to wait is held by
        the server until N messages came or it expires, so a trickle of events would sit in it
        for up to ``fetch_timeout``. Messages known to be waiting (``behind``, from the last
        message's metadata) are asked for exactly, which the server answers at once. Raises
        TimeoutError when nothing came.
        """
        if behind > 0:
            with contextlib.suppress(TimeoutError):  # a replica took them meanwhile
                return await sub.fetch(min(behind, want), timeout=_GRAB_TIMEOUT)
        msgs = await sub.fetch(1, timeout=self.fetch_timeout)
        waiting = min(msgs[-1].metadata.num_pending, want - 1)
        if waiting > 0:
            # Normally all there already; a replica taking some of them costs at most this wait.
            with contextlib.suppress(TimeoutError):
                msgs += await sub.fetch(waiting, timeout=_GRAB_TIMEOUT)
        return msgs

    async def _drain(self, lane: _Lane, held: dict[int, Msg], owners: dict[str, list],
                     room: asyncio.Event) -> None:
        """Handle the lane's messages, oldest first, up to ``batch`` per transaction, until closed."""
        while True:
            taken = lane.take(self.batch)
            if not taken:
                if lane.closed:
                    return
                await lane.wait()
                continue
            lane.running = True
            try:
                await self._handle_batch([(msg, event) for msg, event, _key in taken])
            except Exception as exc:  # not expected; the messages come back after ack_wait
                log.error("events.consumer.lane_failed", consumer=self.name,
                          error_type=type(exc).__name__, error=describe_error(exc))
            finally:
                lane.running = False
                for msg, _event, key in taken:
                    held.pop(id(msg), None)
                    owner = owners.get(key)
                    if owner is not None:
                        owner[1] -= 1
                        if owner[1] <= 0:
                            del owners[key]
                room.set()

    # -- messages ----------------------------------------------------------------------------

    async def _handle_batch(self, items: list[tuple[Msg, CloudEvent | None]]) -> None:
        """Handle a lane's batch; every message ends acked, nak'ed, termed or left to ack_wait.

        Fast path: the first deliveries of handled types (unless ``batch_transactions`` is off)
        share one transaction (one inbox INSERT, the handlers in stream order, one commit), then
        are acked. Everything else — redeliveries (a failing event must not sink the batch
        again) and the events of their entities, unparseable messages, types without a handler,
        a batch whose transaction failed — is handled message by message in stream order,
        where a failing event is retried, dead-lettered and reported on its own.
        """
        if self.batch_transactions and len(items) > 1:
            redelivered = {
                (e.subject or e.id) for m, e in items
                if e is not None and m.metadata.num_delivered > 1
            }
            together = [
                (m, e) for m, e in items
                if e is not None and self.handlers.get(e.type) is not None
                and (e.subject or e.id) not in redelivered and m.metadata.num_delivered == 1
            ]
            if len(together) > 1 and await self._try_group(together):
                handled = {id(m) for m, _ in together}
                items = [(m, e) for m, e in items if id(m) not in handled]
        for msg, event in items:
            try:
                await self._handle(msg, event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ack/nak failures: JetStream redelivers after ack_wait
                log.warning("events.consumer.ack_failed", consumer=self.name,
                            error_type=type(exc).__name__)

    async def _try_group(self, group: list[tuple[Msg, CloudEvent]]) -> bool:
        """Handle ``group`` in one transaction and ack it; False (nothing committed) on failure."""
        try:
            fresh = await self._apply_batch(group)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("events.consumer.batch_failed", consumer=self.name, size=len(group),
                     error_type=type(exc).__name__, error=describe_error(exc))
            return False
        await self._ack_all(m for m, _ in group)
        log.debug("events.consumer.handled", consumer=self.name, count=fresh,
                  duplicates=len(group) - fresh)
        return True

    async def _apply_batch(self, batch: list[tuple[Msg, CloudEvent]]) -> int:
        """One transaction: inbox rows of the batch, then the handlers of the new ones; commit.

        Returns how many events were new. Events whose inbox row exists (handled before, or twice
        in this batch) are skipped. Raises whatever a handler or the database raised.
        """
        async with self._uow_factory(None) as uow:
            # Sorted: concurrent replicas lock inbox keys in one order, so they cannot deadlock.
            keys = sorted({e.id: e.type for _, e in batch}.items())
            # executemany form: one cached statement whatever the batch size (SQLAlchemy
            # still sends it as one multi-row INSERT … RETURNING).
            inserted = await uow.session.execute(
                _INBOX_INSERT,
                [{"consumer": self.name, "event_id": i, "event_type": t} for i, t in keys],
            )
            fresh = set(inserted.scalars())
            count = len(fresh)
            for _msg, event in batch:
                if event.id not in fresh:
                    continue
                fresh.discard(event.id)
                # Events a handler emits carry the correlation id of the event it handles.
                uow.correlation_id = event.correlationid
                with structlog.contextvars.bound_contextvars(correlation_id=event.correlationid):
                    await self.handlers.get(event.type)(event, uow=uow)
            await uow.commit()
            return count

    async def _ack_all(self, msgs) -> None:
        for msg in msgs:
            try:
                await msg.ack()
            except Exception as exc:  # JetStream redelivers; the inbox skips it then
                log.warning("events.consumer.ack_failed", consumer=self.name,
                            error_type=type(exc).__name__)

    async def _handle(self, msg: Msg, event: CloudEvent | None) -> None:
        deliveries = msg.metadata.num_delivered
        if event is None:
            await self._dead_letter(msg, None, "unparseable CloudEvents envelope", deliveries)
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            log.debug("events.consumer.unhandled_type", consumer=self.name, event_type=event.type)
            await msg.ack()
            return
        try:
            handled = await self._apply(event, handler)
        except Exception as exc:
            await self._failed(msg, event, exc, deliveries)
            return
        await msg.ack()  # after the commit: a crash in between means a redelivery the inbox skips
        log.debug("events.consumer.handled" if handled else "events.consumer.duplicate",
                  consumer=self.name, event_id=event.id, event_type=event.type)

    async def _apply(self, event: CloudEvent, handler: Handler) -> bool:
        """Inbox row + handler + commit in one transaction; False if the event was handled before."""
        with structlog.contextvars.bound_contextvars(correlation_id=event.correlationid):
            async with self._uow_factory(event.correlationid) as uow:
                inserted = await uow.session.execute(
                    _INBOX_INSERT,
                    {"consumer": self.name, "event_id": event.id, "event_type": event.type},
                )
                if inserted.scalar() is None:
                    return False
                await handler(event, uow=uow)
                await uow.commit()
                return True

    async def _keep_alive(self, held: dict[int, Msg]) -> None:
        """Tell JetStream the held messages are still being worked on, so ack_wait does not expire."""
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            for msg in list(held.values()):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _failed(self, msg: Msg, event: CloudEvent, exc: Exception, deliveries: int) -> None:
        if deliveries >= self.max_deliver:
            await self._dead_letter(msg, event, f"{type(exc).__name__}: {exc}", deliveries)
            return
        delay = min(self.nak_delay * 2 ** (deliveries - 1), 30.0)
        # The error's message tells a deadlock from a constraint violation; it quotes no SQL
        # parameters (the engine hides them) and the logging processor masks personal data.
        log.warning("events.consumer.failed", consumer=self.name, event_id=event.id,
                    event_type=event.type, error_type=type(exc).__name__, error=describe_error(exc),
                    deliveries=deliveries, retry_in=delay)
        await msg.nak(delay=delay)

    async def _dead_letter(self, msg: Msg, event: CloudEvent | None, error: str, deliveries: int) -> None:
        """Store the message in ``dead_letters`` (own transaction), then term it. Nak if that fails."""
        event_id = event.id if event is not None else (msg.headers or {}).get("Nats-Msg-Id")
        try:
            async with self._uow_factory(event.correlationid if event else None) as uow:
                # Truncated to the columns: a foreign publisher's header must not block the row.
                uow.session.add(DeadLetter(
                    consumer=self.name,
                    subject=msg.subject[:200],
                    event_id=event_id[:64] if event_id else None,
                    payload=msg.data.decode("utf-8", errors="replace"),
                    error=error[:4000],
                    deliveries=deliveries,
                ))
                await uow.commit()
        except Exception as exc:
            log.error("events.consumer.dead_letter_failed", consumer=self.name, event_id=event_id,
                      error_type=type(exc).__name__)
            await msg.nak(delay=self.nak_delay)
            return
        log.error("events.consumer.dead_lettered", consumer=self.name, event_id=event_id,
                  subject=msg.subject, deliveries=deliveries)
        await msg.term()


def _reconnects(sub: object) -> int | None:
    """How many times the subscription's client reconnected (None if nats-py hides it)."""
    stats = getattr(getattr(sub, "_nc", None), "stats", None)
    return stats.get("reconnects") if isinstance(stats, dict) else None


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait for ``event`` at most ``seconds``. (Not ``wait_for``: on Python 3.11 it can swallow a
    cancellation that arrives as the event fires, and the loop would then never stop.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class _Lane:
    """Messages waiting for one lane's next transaction, in stream order, with their entity keys."""

    __slots__ = ("_items", "_ready", "closed", "running")

    def __init__(self) -> None:
        self._items: deque[tuple[Msg, CloudEvent | None, str]] = deque()
        self._ready = asyncio.Event()
        self.closed = False
        self.running = False  # a transaction of this lane is in progress

    @property
    def queued(self) -> int:
        return len(self._items)

    def add(self, msg: Msg, event: CloudEvent | None, key: str) -> None:
        self._items.append((msg, event, key))
        self._ready.set()

    def take(self, limit: int) -> list[tuple[Msg, CloudEvent | None, str]]:
        items = self._items
        return [items.popleft() for _ in range(min(len(items), max(limit, 1)))]

    async def wait(self) -> None:
        self._ready.clear()
        if not self._items and not self.closed:
            await self._ready.wait()

    def close(self) -> None:
        self.closed = True
        self._ready.set()


def _pick(lanes: list[_Lane], batch: int) -> _Lane:
    """The lane for a new entity: fill before spreading.

    A lane collecting its next batch (behind its running transaction, or about to start with
    what this fetch brings) while that batch has room; else a busy lane with nothing queued yet;
    else an idle lane; else the shortest queue.
    """
    waiting = idle = None
    for lane in lanes:
        queued = lane.queued
        if 0 < queued < batch:
            return lane
        if queued == 0:
            if lane.running:
                if waiting is None:
                    waiting = lane
            elif idle is None:
                idle = lane
    if waiting is not None:
        return waiting
    if idle is not None:
        return idle
    return min(lanes, key=lambda lane: lane.queued)
