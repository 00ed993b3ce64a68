"""End to end: a producer service commits events, another service's handler applies each once.

Producer = its own database + EventBus (outbox and relay); consumer = another database +
EventBus with handlers; both on the session's real nats-server and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import func, select

from shared.db import UnitOfWork
from shared.events import CloudEvent, EventBus, EventConsumer, EventHandlers, new_event
from shared.events.connection import connect_nats
from shared.events.models import DeadLetter, InboxEvent, OutboxEvent
from shared.events.streams import ensure_stream, stream_name
from tests.shared.events.conftest import ServiceDb, effects, eventually, unique


def recording_handlers(event_type: str, *, sleep: float = 0.0) -> EventHandlers:
    """A handler whose effect is a row in ``test_effects``; ``data.poison`` makes it raise."""
    handlers = EventHandlers()

    @handlers.on(event_type)
    async def record(event: CloudEvent, *, uow: UnitOfWork) -> None:
        await uow.session.execute(effects.insert().values(event_id=event.id, note=event.data.get("note")))
        if event.data.get("poison"):
            raise RuntimeError("poisoned event")
        if sleep:
            await asyncio.sleep(sleep)

    return handlers


async def emit(producer: ServiceDb, bus: EventBus, event_type: str, count: int, **data) -> list[str]:
    """Commit ``count`` events, one unit of work each; returns their ids."""
    ids = []
    for index in range(count):
        async with producer.uow(on_commit=bus.wake_relay) as uow:
            ids.append(uow.emit(event_type, {"n": index, **data}).id)
            await uow.commit()
    return ids


async def handled(consumer: ServiceDb) -> tuple[int, int]:
    """(effect rows, distinct event ids among them)."""
    [(rows, distinct)] = await consumer.rows(
        select(func.count(), func.count(effects.c.event_id.distinct())).select_from(effects)
    )
    return rows, distinct


async def setup_pair(service_db, buses, **consumer_options):
    producer = await service_db(unique("prod"))
    consumer = await service_db(unique("cons"))
    event_type = f"{producer.service}.benefit.granted"
    handlers = recording_handlers(event_type, sleep=consumer_options.pop("sleep", 0.0))
    producer_bus = await buses(producer)
    consumer_bus = await buses(consumer, handlers, **consumer_options)
    return producer, consumer, producer_bus, consumer_bus, event_type


@pytest.mark.slow
async def test_exactly_once_across_a_nats_outage(service_db, buses, nats_server) -> None:
    producer, consumer, pbus, cbus, event_type = await setup_pair(service_db, buses, ack_wait=5.0)
    await emit(producer, pbus, event_type, 5)
    await eventually(lambda: _count_is(consumer, 5))

    # Some events are in flight when the server goes; more are committed while it is away.
    await emit(producer, pbus, event_type, 5, note="just before")
    await asyncio.to_thread(nats_server.stop)
    try:
        await emit(producer, pbus, event_type, 5, note="during")
        await eventually(lambda: not pbus.connected, timeout=5)
        await asyncio.sleep(10)
        assert await producer.count(OutboxEvent, OutboxEvent.published_at.is_(None)) >= 5
    finally:
        await asyncio.to_thread(nats_server.start)

    await eventually(lambda: _count_is(consumer, 15), timeout=20)
    await asyncio.sleep(0.5)  # late redeliveries would show up here
    assert await handled(consumer) == (15, 15)
    assert await consumer.count(InboxEvent) == 15
    assert await producer.count(OutboxEvent, OutboxEvent.published_at.is_(None)) == 0


async def test_a_message_stored_twice_takes_effect_once(service_db, buses, nats_url) -> None:
    producer = await service_db(unique("prod"))
    consumer = await service_db(unique("cons"))
    event_type = f"{producer.service}.benefit.granted"
    event = new_event(event_type, {"n": 1}, source="/services/test", time=datetime.now(UTC))
    nc = await connect_nats(nats_url, name="test-publisher")
    try:
        js = nc.jetstream()
        await ensure_stream(js, producer.service)
        first = await js.publish(event_type, event.to_json_bytes(), headers={"Nats-Msg-Id": "copy-1"})
        again = await js.publish(event_type, event.to_json_bytes(), headers={"Nats-Msg-Id": "copy-1"})
        second = await js.publish(event_type, event.to_json_bytes(), headers={"Nats-Msg-Id": "copy-2"})
        assert again.duplicate and again.seq == first.seq  # what the relay's retries rely on
        assert second.seq == first.seq + 1 and not second.duplicate

        await buses(consumer, recording_handlers(event_type))

        async def all_acked() -> bool:
            with contextlib.suppress(NotFoundError):  # not created yet
                info = await js.consumer_info(stream_name(producer.service), consumer.service)
                return info.delivered.stream_seq >= second.seq and info.num_ack_pending == 0
            return False

        await eventually(all_acked)
    finally:
        await nc.close()
    assert await handled(consumer) == (1, 1)
    assert await consumer.count(InboxEvent) == 1


async def test_a_handler_slower_than_ack_wait_takes_effect_once(service_db, buses, nats_url) -> None:
    producer, consumer, pbus, cbus, event_type = await setup_pair(
        service_db, buses, ack_wait=1.0, sleep=2.5)
    await emit(producer, pbus, event_type, 1)
    await eventually(lambda: _count_is(consumer, 1), timeout=8)
    nc = await connect_nats(nats_url, name="test-inspector")
    try:
        info = await nc.jetstream().consumer_info(stream_name(producer.service), consumer.service)
    finally:
        await nc.close()
    # One delivery only: in_progress kept ack_wait from expiring.
    assert (info.delivered.consumer_seq, info.num_ack_pending) == (1, 0)
    await asyncio.sleep(0.3)
    assert await handled(consumer) == (1, 1)


async def test_a_redelivery_racing_the_first_delivery_is_skipped(service_db, nats_url) -> None:
    """No in_progress heartbeat and two replicas: the redelivery meets the uncommitted inbox row."""
    producer = await service_db(unique("prod"))
    consumer = await service_db(unique("cons"))
    event_type = f"{producer.service}.benefit.granted"
    handlers = recording_handlers(event_type, sleep=1.5)
    nc = await connect_nats(nats_url, name="test-replicas")
    replicas = [
        EventConsumer(name=consumer.service, handlers=handlers, uow_factory=consumer.uow,
                      js_provider=nc.jetstream, ack_wait=0.5, heartbeat=False, fetch_timeout=0.3)
        for _ in range(2)
    ]
    tasks = [asyncio.create_task(replica.run_forever()) for replica in replicas]
    try:
        js = nc.jetstream()
        await eventually(lambda: all(r.subscribed for r in replicas))
        event = new_event(event_type, {"n": 1}, source="/services/test", time=datetime.now(UTC))
        await js.publish(event_type, event.to_json_bytes(), headers={"Nats-Msg-Id": event.id})
        await eventually(lambda: _count_is(consumer, 1), timeout=8)

        async def settled() -> bool:
            info = await js.consumer_info(stream_name(producer.service), consumer.service)
            # Acked, after at least one redelivery (consumer_seq counts deliveries).
            return info.num_ack_pending == 0 and info.delivered.consumer_seq >= 2

        await eventually(settled, timeout=8)
    finally:
        await asyncio.gather(*(replica.stop(grace=3.0) for replica in replicas))
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()
    assert await handled(consumer) == (1, 1)


async def test_a_rolled_back_transaction_publishes_nothing(service_db, buses, nats_url) -> None:
    producer, consumer, pbus, cbus, event_type = await setup_pair(service_db, buses)
    async with producer.uow(on_commit=pbus.wake_relay) as uow:
        uow.emit(event_type, {"note": "left without commit"})
    with pytest.raises(RuntimeError):
        async with producer.uow(on_commit=pbus.wake_relay) as uow:
            uow.emit(event_type, {"note": "failed use case"})
            raise RuntimeError("use case failed")
    await emit(producer, pbus, event_type, 1, note="committed")

    await eventually(lambda: _count_is(consumer, 1))
    await asyncio.sleep(0.3)
    notes = await consumer.rows(select(effects.c.note))
    assert notes == [("committed",)]
    assert await producer.count(OutboxEvent) == 1
    stream = await pbus.nats.jetstream().stream_info(stream_name(producer.service))
    assert stream.state.messages == 1


async def test_a_poison_event_is_dead_lettered_and_later_events_still_flow(service_db, buses, monkeypatch) -> None:
    import structlog
    from structlog.testing import capture_logs

    import shared.events.consumer

    producer, consumer, pbus, cbus, event_type = await setup_pair(service_db, buses, max_deliver=3)
    with capture_logs() as logs:
        # The module's logger may be cached from an earlier configuration: a fresh one for the capture.
        monkeypatch.setattr(shared.events.consumer, "log", structlog.get_logger("shared.events.consumer"))
        [poison_id] = await emit(producer, pbus, event_type, 1, poison=True)
        await emit(producer, pbus, event_type, 3, note="good")
        await eventually(lambda: consumer.count(DeadLetter))
    # Each failed try is logged with the error's type and message (a deadlock is not a bug).
    failed = [(e["error_type"], e["error"], e["deliveries"]) for e in logs if e["event"] == "events.consumer.failed"]
    assert failed == [("RuntimeError", "poisoned event", 1), ("RuntimeError", "poisoned event", 2)]
    [letter] = await consumer.rows(select(DeadLetter))
    letter = letter[0]
    assert (letter.event_id, letter.deliveries, letter.consumer) == (poison_id, 3, consumer.service)
    assert letter.subject == event_type and "poisoned event" in letter.error
    assert CloudEvent.model_validate_json(letter.payload).id == poison_id

    await emit(producer, pbus, event_type, 1, note="after")
    await eventually(lambda: _count_is(consumer, 4))
    # The poison's own effect rows were rolled back with each failed attempt.
    assert await consumer.count(effects, effects.c.event_id == poison_id) == 0
    assert await consumer.count(InboxEvent, InboxEvent.event_id == poison_id) == 0
    assert await consumer.count(DeadLetter) == 1


async def test_an_unparseable_message_is_dead_lettered_at_once(service_db, buses, nats_url) -> None:
    producer, consumer, pbus, cbus, event_type = await setup_pair(service_db, buses, max_deliver=3)
    await eventually(lambda: pbus.ready)
    await pbus.nats.jetstream().publish(event_type, b"{not json", headers={"Nats-Msg-Id": "garbage-1"})
    await eventually(lambda: consumer.count(DeadLetter))
    [(letter,)] = await consumer.rows(select(DeadLetter))
    assert (letter.event_id, letter.deliveries, letter.payload) == ("garbage-1", 1, "{not json")
    await emit(producer, pbus, event_type, 1)
    await eventually(lambda: _count_is(consumer, 1))


async def test_the_consumer_survives_an_empty_stream(service_db, buses) -> None:
    consumer = await service_db(unique("cons"))
    producer = await service_db(unique("prod"))
    event_type = f"{producer.service}.benefit.granted"
    # The consumer starts first: the producer's stream does not exist yet, let alone an event.
    cbus = await buses(consumer, recording_handlers(event_type), fetch_timeout=0.2)
    await eventually(lambda: cbus.consumer is not None and cbus.consumer.subscribed)
    await asyncio.sleep(0.7)  # several empty fetches
    assert cbus.consumer.subscribed and await consumer.count(effects) == 0

    pbus = await buses(producer)
    await emit(producer, pbus, event_type, 3)
    await eventually(lambda: _count_is(consumer, 3))


async def _count_is(db: ServiceDb, expected: int) -> bool:
    return await db.count(effects) == expected


async def _published_is(db: ServiceDb, expected: int) -> bool:
    return await db.count(OutboxEvent, OutboxEvent.published_at.is_not(None)) == expected


async def test_events_emitted_by_handlers_keep_each_source_correlation_id(service_db, buses) -> None:
    """In a batch transaction each handler's emitted events carry its own event's correlation id."""
    producer = await service_db(unique("prod"))
    consumer = await service_db(unique("cons"))
    event_type = f"{producer.service}.benefit.granted"
    handlers = EventHandlers()

    @handlers.on(event_type)
    async def reply(event: CloudEvent, *, uow: UnitOfWork) -> None:
        uow.emit(f"{consumer.service}.roster.updated", {"source": event.id})

    await buses(producer)
    for index in range(10):
        async with producer.uow(correlation_id=f"corr-{index}") as uow:
            uow.emit(event_type, {"n": index})
            await uow.commit()  # committed before the consumer starts: one fetched batch
    await eventually(lambda: _published_is(producer, 10))
    await buses(consumer, handlers)

    await eventually(lambda: _published_is(consumer, 10))
    sources = {row.envelope["id"]: row.envelope["correlationid"]
               for (row,) in await producer.rows(select(OutboxEvent))}
    replies = [row.envelope for (row,) in await consumer.rows(select(OutboxEvent))]
    assert sorted(r["correlationid"] for r in replies) == sorted(sources.values())
    assert all(sources[r["data"]["source"]] == r["correlationid"] for r in replies)


async def test_events_of_one_entity_are_handled_in_stream_order(service_db, buses) -> None:
    """Lanes run concurrently, but an entity's events (same subject) stay in one lane, in order."""
    producer = await service_db(unique("prod"))
    consumer = await service_db(unique("cons"))
    event_type = f"{producer.service}.benefit.changed"
    handlers = EventHandlers()

    @handlers.on(event_type)
    async def record(event: CloudEvent, *, uow: UnitOfWork) -> None:
        note = f"{event.subject}:{event.data['n']}"
        await uow.session.execute(effects.insert().values(event_id=event.id, note=note))

    await buses(producer)
    for first in range(0, 240, 40):  # 8 entities, 30 changes each, interleaved
        async with producer.uow() as uow:
            for index in range(first, first + 40):
                uow.emit(event_type, {"n": index // 8}, subject=f"e{index % 8}")
            await uow.commit()
    await eventually(lambda: _published_is(producer, 240))
    await buses(consumer, handlers, concurrency=4, consumer_batch=7)
    await eventually(lambda: _count_is(consumer, 240), timeout=30)

    handled: dict[str, list[int]] = {}
    for (note,) in await consumer.rows(select(effects.c.note).order_by(effects.c.id)):
        subject, n = note.split(":")
        handled.setdefault(subject, []).append(int(n))
    assert handled == {f"e{e}": list(range(30)) for e in range(8)}
    assert await consumer.count(InboxEvent) == 240
