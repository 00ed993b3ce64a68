"""One object per service process wiring NATS, its stream, the outbox relay and its consumer.

In a FastAPI lifespan::

    bus = EventBus(service="subsidy", nats_url=settings.nats_url, session_factory=sessions,
                   handlers=handlers)
    await bus.start()          # returns at once, even while NATS is down
    app.state.bus = bus        # bus.unit_of_work(correlation_id) for request handlers
    yield
    await bus.stop()
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.clock import Clock, SystemClock
from shared.db import UnitOfWork
from shared.events.connection import connect_nats
from shared.events.consumer import EventConsumer, EventHandlers
from shared.events.relay import OutboxRelay
from shared.events.streams import ensure_stream

log = structlog.get_logger("shared.events.bus")


class EventBus:
    """Event passing of service ``service``: publishes its outbox, consumes ``handlers``' types.

    ``start()`` never fails because NATS is down: connecting (forever), creating the service's
    stream, the relay and the consumer all run in a background task, and ``ready`` turns True
    once connected with the stream in place. Meanwhile the service serves reads and commits
    events to its outbox; they are published when NATS is back.
    Consumer options (``max_deliver``, ``ack_wait``, ``nak_delay``, ``fetch_timeout``,
    ``concurrency``, ``consumer_batch``, ``batch_transactions``) are passed to
    :class:`EventConsumer`; ``consumer_name`` defaults to ``service``. ``outbox_retention``:
    seconds published outbox rows are kept before the relay deletes them (None: forever).
    """

    def __init__(
        self,
        *,
        service: str,
        nats_url: str,
        session_factory: async_sessionmaker[AsyncSession],
        handlers: EventHandlers | None = None,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        relay_interval: float = 0.2,
        clock: Clock | None = None,
        consumer_name: str | None = None,
        nak_delay: float = 1.0,
        fetch_timeout: float = 2.0,
        concurrency: int = 8,
        consumer_batch: int = 50,
        batch_transactions: bool = True,
        relay_batch_size: int = 100,
        publish_timeout: float = 5.0,
        stream_replicas: int = 1,
        outbox_retention: float | None = 24 * 3600.0,
    ) -> None:
        self.service = service
        self.nats_url = nats_url
        self.session_factory = session_factory
        self.handlers = handlers
        self.clock = clock or SystemClock()
        self._consumer_options = {
            "name": consumer_name or service, "max_deliver": max_deliver, "ack_wait": ack_wait,
            "nak_delay": nak_delay, "fetch_timeout": fetch_timeout, "concurrency": concurrency,
            "batch": consumer_batch, "batch_transactions": batch_transactions,
        }
        self._relay_options = {
            "interval": relay_interval, "batch_size": relay_batch_size,
            "publish_timeout": publish_timeout, "retention": outbox_retention,
        }
        self._stream_replicas = stream_replicas
        self._nc: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stream_ready = False
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None

    @property
    def connected(self) -> bool:
        """True while the NATS connection is up."""
        return self._nc is not None and self._nc.is_connected

    @property
    def ready(self) -> bool:
        """Connected, with this service's stream in place (readiness probes)."""
        return self._stream_ready and self.connected

    @property
    def nats(self) -> Client | None:
        """The NATS client once connected (None before)."""
        return self._nc

    def wake_relay(self) -> None:
        """Ask the relay for a pass now; the ``on_commit`` of this service's units of work."""
        if self.relay is not None:
            self.relay.wake()

    def unit_of_work(self, correlation_id: str | None = None) -> UnitOfWork:
        """A UnitOfWork of this service whose commit wakes the relay."""
        return UnitOfWork(
            self.session_factory,
            source=f"/services/{self.service}",
            clock=self.clock,
            correlation_id=correlation_id,
            on_commit=self.wake_relay,
        )

    async def start(self) -> None:
        """Start the background work and return at once. Idempotent."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"event-bus-{self.service}")

    async def stop(self, grace: float = 5.0) -> None:
        """Let handlers in progress finish (up to ``grace`` s), stop the relay, close NATS."""
        if self.consumer is not None:
            await self.consumer.stop(grace)
        if self._task is not None:
            self._task.cancel()
            # Bounded: a stop must never hang a service's shutdown.
            _done, pending = await asyncio.wait({self._task}, timeout=grace)
            if pending:
                log.warning("events.bus.stop_timeout", service=self.service)
            self._task = None
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                if nc.is_connected:
                    await nc.flush(timeout=1)  # the last acks
                await nc.close()
        self._stream_ready = False
        self.relay = self.consumer = None

    async def _run(self) -> None:
        nc = await self._connect()
        js = nc.jetstream()
        await self._retry("events.bus.stream_failed", lambda: ensure_stream(
            js, self.service, replicas=self._stream_replicas))
        self._stream_ready = True
        self.relay = OutboxRelay(session_factory=self.session_factory, js=js,
                                 ready=lambda: nc.is_connected, **self._relay_options)
        work = [self.relay.run_forever()]
        if self.handlers:
            self.consumer = EventConsumer(handlers=self.handlers, uow_factory=self.unit_of_work,
                                          js_provider=nc.jetstream, **self._consumer_options)
            work.append(self.consumer.run_forever())
        log.info("events.bus.started", service=self.service, consumes=len(self.handlers or ()))
        await asyncio.gather(*work)

    async def _connect(self) -> Client:
        # connect_nats retries by itself; this loop only guards against it raising anyway.
        async def connect() -> None:
            self._nc = await connect_nats(self.nats_url, name=self.service)

        await self._retry("events.bus.connect_failed", connect)
        assert self._nc is not None
        return self._nc

    async def _retry(self, event: str, attempt) -> None:
        delay = 0.5
        while True:
            try:
                await attempt()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(event, service=self.service, error_type=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
