"""Benchmark of event passing: our pipeline against raw nats-py JetStream.

    python -m tests.bench.bench_events --count 5000

Pipeline = producer unit of work (state + outbox row, commit) → relay → JetStream → consumer
(inbox row + handler effect, commit) → ack; producer and consumer have their own databases, and
run in this one process (as two EventBus instances). Raw = nats-py alone: publish awaiting each
ack, then pull-consume with ack, same count and payload size. Runs, in order:

- raw throughput, and raw latency at the paced rate (reference);
- backlog: ``--count`` events already in the outbox, time until the last handler commit;
- producers running: ``--workers`` concurrent producers commit ``--count`` events (one
  transaction each) while the pipeline runs; latency from each producer commit to its handler's
  commit;
- paced: ``--rate`` events/s for ``--paced-seconds``; commit → handler-commit latency.

PostgreSQL is embedded unless ``BENCH_DATABASE_URL`` names a server; nats-server is embedded.
Targets are printed beside the figures, not asserted. On a shared machine the figures move with
its load (printed): compare the lines of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import BigInteger, Column, MetaData, String, Table

import shared.events.models  # noqa: F401 - registers the infrastructure tables
from deploy.embedded import EmbeddedNats, EmbeddedPostgres, database_url, ensure_databases, free_port
from shared.db import InfraBase, UnitOfWork, make_engine, make_sessionmaker
from shared.events import CloudEvent, EventBus, EventHandlers
from shared.events.connection import connect_nats

TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
CONSUMER_BATCH = 100

bench_metadata = MetaData()
effects = Table(
    "bench_effects", bench_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
)
cases = Table(
    "bench_cases", bench_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("note", String(1000), nullable=False),
)


class Clocked:
    """Commit times by event id, on both sides of the pipeline."""

    def __init__(self) -> None:
        self.committed: dict[str, float] = {}
        self.handled: dict[str, float] = {}
        self.done = asyncio.Event()
        self.expected = 0
        self.produce_seconds = 0.0
        self.cpu_at_start = 0.0
        self.cpu_at_end = 0.0

    def cpu_per_event_ms(self) -> float:
        """Client CPU (this process: producers, relay, consumer) per handled event, in ms."""
        return (self.cpu_at_end - self.cpu_at_start) / max(len(self.handled), 1) * 1000

    def latencies_ms(self) -> list[float]:
        return sorted((self.handled[k] - self.committed[k]) * 1000 for k in self.handled)


class TimedUnitOfWork(UnitOfWork):
    """Records when the handler's transaction committed (the end of an event's journey)."""

    clocked: Clocked

    async def __aenter__(self) -> TimedUnitOfWork:
        self.event_ids: list[str] = []  # a batch transaction handles several events
        return await super().__aenter__()

    async def commit(self) -> None:
        await super().commit()
        now = time.perf_counter()
        for event_id in self.event_ids:
            self.clocked.handled[event_id] = now
        if len(self.clocked.handled) >= self.clocked.expected:
            self.clocked.done.set()


class ConsumerBus(EventBus):
    def __init__(self, clocked: Clocked, **kwargs) -> None:
        super().__init__(**kwargs)
        self.clocked = clocked

    def unit_of_work(self, correlation_id: str | None = None) -> UnitOfWork:
        uow = TimedUnitOfWork(self.session_factory, source=f"/services/{self.service}",
                              clock=self.clock, correlation_id=correlation_id,
                              on_commit=self.wake_relay)
        uow.clocked = self.clocked
        return uow


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


async def make_db(server_url: str, name: str):
    await ensure_databases(server_url, [name])
    engine = make_engine(database_url(server_url, name), pool_size=20)
    async with engine.begin() as conn:
        await conn.run_sync(InfraBase.metadata.drop_all)
        await conn.run_sync(bench_metadata.drop_all)
        await conn.run_sync(InfraBase.metadata.create_all)
        await conn.run_sync(bench_metadata.create_all)
    return engine


# -- raw nats-py --------------------------------------------------------------------------------

async def bench_raw(nats_url: str, count: int, payload: bytes) -> float:
    """Events/s of publish-awaiting-each-ack followed by a pull-consume with acks."""
    nc = await connect_nats(nats_url, name="bench-raw")
    js = nc.jetstream()
    stream = f"RAW{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
    subject = f"{stream.lower()}.bench.sent"
    sub = await js.pull_subscribe(subject, durable="raw", stream=stream)
    started = time.perf_counter()
    for index in range(count):
        await js.publish(subject, payload, headers={"Nats-Msg-Id": f"raw-{index}"})
    received = 0
    while received < count:
        with contextlib.suppress(TimeoutError):
            for msg in await sub.fetch(256, timeout=1):
                await msg.ack()
                received += 1
    elapsed = time.perf_counter() - started
    await js.delete_stream(stream)
    await nc.close()
    return count / elapsed


async def bench_raw_paced(nats_url: str, rate: float, seconds: float, payload: bytes) -> list[float]:
    """Latency (ms) publish → consumed-and-acked with raw nats-py at a paced rate."""
    nc = await connect_nats(nats_url, name="bench-raw-paced")
    js = nc.jetstream()
    stream = f"RAWP{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
    subject = f"{stream.lower()}.bench.sent"
    sub = await js.pull_subscribe(subject, durable="raw", stream=stream)
    total = int(rate * seconds)
    sent: dict[bytes, float] = {}
    latencies: list[float] = []

    async def consume() -> None:
        while len(latencies) < total:
            with contextlib.suppress(TimeoutError):
                for msg in await sub.fetch(256, timeout=1):
                    await msg.ack()
                    latencies.append((time.perf_counter() - sent[msg.headers["Nats-Msg-Id"].encode()]) * 1000)

    consumer = asyncio.create_task(consume())
    start = time.perf_counter()
    for index in range(total):
        await _sleep_until(start + index / rate)
        key = f"raw-{index}".encode()
        sent[key] = time.perf_counter()
        await js.publish(subject, payload, headers={"Nats-Msg-Id": key.decode()})
    await consumer
    await js.delete_stream(stream)
    await nc.close()
    return sorted(latencies)


# -- our pipeline -------------------------------------------------------------------------------

async def commit_one(bus: EventBus, event_type: str, note: str, clocked: Clocked) -> None:
    """One use case: a state change and its event, committed together."""
    async with bus.unit_of_work() as uow:
        await uow.session.execute(cases.insert().values(note=note[:100]))
        event = uow.emit(event_type, {"note": note})
        await uow.commit()
    clocked.committed[event.id] = time.perf_counter()


async def run_pipeline(server_url: str, nats_url: str, label: str, note: str, *,
                       backlog: int = 0, produce=None, concurrency: int = 16) -> tuple[Clocked, float]:
    """Run producer and consumer services; returns the clocks and the producer bus start time.

    ``backlog`` events are committed to the outbox before the buses start (drain mode);
    ``produce(bus, event_type, note, clocked)`` commits events while they run.
    """
    suffix = uuid.uuid4().hex[:6]
    producer_service, consumer_service = f"benchp{suffix}", f"benchc{suffix}"
    producer_engine = await make_db(server_url, f"bench_producer_{label}")
    consumer_engine = await make_db(server_url, f"bench_consumer_{label}")
    event_type = f"{producer_service}.bench.sent"
    clocked = Clocked()
    handlers = EventHandlers()

    @handlers.on(event_type)
    async def record(event: CloudEvent, *, uow: TimedUnitOfWork) -> None:
        await uow.session.execute(effects.insert().values(event_id=event.id))
        uow.event_ids.append(event.id)

    producer = EventBus(service=producer_service, nats_url=nats_url,
                        session_factory=make_sessionmaker(producer_engine),
                        relay_interval=0.2, relay_batch_size=500)
    consumer = ConsumerBus(clocked, service=consumer_service, nats_url=nats_url,
                           session_factory=make_sessionmaker(consumer_engine), handlers=handlers,
                           concurrency=concurrency, consumer_batch=CONSUMER_BATCH)
    if backlog:
        clocked.expected = backlog
        for first in range(0, backlog, 1000):
            async with producer.unit_of_work() as uow:
                for _ in range(min(1000, backlog - first)):
                    event = uow.emit(event_type, {"note": note})
                    clocked.committed[event.id] = 0.0  # set when the buses start
                await uow.commit()
    await consumer.start()
    while not (consumer.consumer and consumer.consumer.subscribed):
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    clocked.cpu_at_start = time.process_time()
    for event_id in clocked.committed:
        clocked.committed[event_id] = started
    await producer.start()
    try:
        if produce is not None:
            while not producer.ready:
                await asyncio.sleep(0.01)
            await produce(producer, event_type, note, clocked)
        await asyncio.wait_for(clocked.done.wait(), 300)
        clocked.cpu_at_end = time.process_time()
    finally:
        await consumer.stop()
        await producer.stop()
        await producer_engine.dispose()
        await consumer_engine.dispose()
    return clocked, started


def burst(count: int, workers: int):
    async def produce(bus, event_type, note, clocked) -> None:
        clocked.expected = count
        queue = iter(range(count))

        async def worker() -> None:
            for _ in queue:
                await commit_one(bus, event_type, note, clocked)

        await asyncio.gather(*(worker() for _ in range(workers)))
    return produce


def paced(rate: float, seconds: float, in_flight: int = 16):
    """Commit ``rate`` events/s for ``seconds``; a commit that would exceed ``in_flight``
    concurrent ones waits (so an overloaded machine lags the schedule instead of failing)."""
    async def produce(bus, event_type, note, clocked) -> None:
        total = int(rate * seconds)
        clocked.expected = total
        gate = asyncio.Semaphore(in_flight)

        async def one() -> None:
            try:
                await commit_one(bus, event_type, note, clocked)
            finally:
                gate.release()

        start = time.perf_counter()
        tasks = []
        for index in range(total):
            await _sleep_until(start + index / rate)
            await gate.acquire()
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        clocked.produce_seconds = time.perf_counter() - start
    return produce


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


# -- main ---------------------------------------------------------------------------------------

async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-events-"))
    postgres = None
    server_url = os.environ.get("BENCH_DATABASE_URL")
    if not server_url:
        postgres = EmbeddedPostgres(workdir / "pg", free_port())
        server_url = postgres.start()
    nats_server = EmbeddedNats(workdir / "nats", free_port())
    nats_server.start()
    try:
        note = "x" * args.payload
        sample = CloudEvent(id=str(uuid.uuid4()), source="/services/bench", type="benchp.bench.sent",
                            time="2026-01-01T00:00:00Z", data={"note": note})
        payload = sample.to_json_bytes()

        cpu = time.process_time()
        raw_rate = await bench_raw(nats_server.url, args.count, payload)
        raw_cpu = (time.process_time() - cpu) / args.count * 1000
        raw_paced = await bench_raw_paced(nats_server.url, args.rate, args.paced_seconds, payload)

        drained, started = await run_pipeline(server_url, nats_server.url, "drain", note,
                                              backlog=args.count)
        drain_cpu = drained.cpu_per_event_ms()
        drain_rate = args.count / (max(drained.handled.values()) - started)

        clocked, _ = await run_pipeline(server_url, nats_server.url, "burst", note,
                                        produce=burst(args.count, args.workers))
        burst_rate = args.count / (max(clocked.handled.values()) - min(clocked.committed.values()))
        burst_latency = clocked.latencies_ms()

        clocked_paced, _ = await run_pipeline(server_url, nats_server.url, "paced", note,
                                              produce=paced(args.rate, args.paced_seconds))
        paced_latency = clocked_paced.latencies_ms()
    finally:
        nats_server.stop()
        if postgres is not None:
            postgres.stop()

    ratio, e2e_ratio = drain_rate / raw_rate, burst_rate / raw_rate
    paced_p99 = percentile(paced_latency, 0.99)
    print()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"event passing benchmark: {args.count} events of {len(payload)} bytes, loop {args.loop},"
          f" {os.cpu_count()} CPUs, load average {load} (figures are only comparable within one run)")
    print(f"  raw nats-py JetStream        {raw_rate:8.0f} events/s  publish awaiting each ack, then pull+ack"
          f"  ({raw_cpu:.2f} ms client CPU/event)")
    print(f"  pipeline, outbox backlog     {drain_rate:8.0f} events/s  relay → JetStream → inbox + handler tx"
          f"  ({drain_cpu:.2f} ms client CPU/event)")
    print(f"  pipeline, producers running  {burst_rate:8.0f} events/s  {args.workers} producers, one tx per event;"
          f" commit→handler p50 {statistics.median(burst_latency):.1f} ms p99 {percentile(burst_latency, 0.99):.1f} ms"
          f"  ({clocked.cpu_per_event_ms():.2f} ms client CPU/event, producers included)")
    print(f"  ratio to raw                 {ratio:8.2f}×  backlog ({e2e_ratio:.2f}× with producers running)"
          f"   target ≥ {TARGET_RATIO}× [{'met' if ratio >= TARGET_RATIO else 'NOT met'}]")
    achieved = len(paced_latency) / clocked_paced.produce_seconds
    print(f"  paced {args.rate:.0f}/s × {args.paced_seconds:.0f} s ({achieved:.0f}/s achieved) commit→handler p50 "
          f"{statistics.median(paced_latency):.1f} ms p99 {paced_p99:.1f} ms"
          f"   target p99 ≤ {TARGET_P99_MS:.0f} ms [{'met' if paced_p99 <= TARGET_P99_MS else 'NOT met'}]"
          f"  ({clocked_paced.cpu_per_event_ms():.2f} ms client CPU/event, producers included)")
    print(f"  paced raw nats-py (reference) publish→consumed p50 {statistics.median(raw_paced):.1f} ms"
          f" p99 {percentile(raw_paced, 0.99):.1f} ms")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000, help="events in the throughput runs")
    parser.add_argument("--payload", type=int, default=256, help="characters of event data")
    parser.add_argument("--workers", type=int, default=16, help="concurrent producers (burst)")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s of the paced run")
    parser.add_argument("--paced-seconds", type=float, default=5.0, help="length of the paced run")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="event loop (the services run under uvicorn with uvloop)")
    return parser.parse_args()


if __name__ == "__main__":
    import logging

    import structlog

    # Quiet: per-event debug lines would dominate the measurement.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    arguments = parse_args()
    if arguments.loop == "uvloop":
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
