"""The outbox relay against a real nats-server and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.js import JetStreamContext
from sqlalchemy import select, text, update

from shared.events.connection import connect_nats
from shared.events.models import OutboxEvent
from shared.events.relay import OutboxRelay, PublishError
from shared.events.streams import ensure_stream, stream_name
from tests.shared.events.conftest import ServiceDb, unique


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await connect_nats(nats_url, name="test-relay")
    yield nc.jetstream()
    await nc.close()


async def stage(db: ServiceDb, event_type: str, count: int) -> list[str]:
    """Commit ``count`` outbox rows in one unit of work; returns the event ids."""
    async with db.uow() as uow:
        ids = [uow.emit(event_type, {"n": n}).id for n in range(count)]
        await uow.commit()
    return ids


async def test_rows_are_published_in_order_with_their_event_id(service_db, js) -> None:
    db = await service_db(unique("rel"))
    await ensure_stream(js, db.service)
    ids = await stage(db, f"{db.service}.case.opened", 5)
    relay = OutboxRelay(session_factory=db.sessions, js=js, batch_size=3)

    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0
    stream = stream_name(db.service)
    stored = [await js.get_msg(stream, seq) for seq in range(1, 6)]
    assert [m.headers["Nats-Msg-Id"] for m in stored] == ids
    assert await db.count(OutboxEvent, OutboxEvent.published_at.is_(None)) == 0


async def test_a_duplicate_ack_counts_as_published(service_db, js) -> None:
    """The retry of a publish that was stored although its ack was lost."""
    db = await service_db(unique("rel"))
    await ensure_stream(js, db.service)
    [event_id] = await stage(db, f"{db.service}.case.opened", 1)
    await js.publish(f"{db.service}.case.opened", b"{}", headers={"Nats-Msg-Id": event_id})

    assert await OutboxRelay(session_factory=db.sessions, js=js).publish_pending() == 1
    assert (await js.stream_info(stream_name(db.service))).state.messages == 1
    assert await db.count(OutboxEvent, OutboxEvent.published_at.is_(None)) == 0


async def test_replicas_never_publish_the_same_row_twice(service_db, js) -> None:
    db = await service_db(unique("rel"))
    await ensure_stream(js, db.service)
    await stage(db, f"{db.service}.case.opened", 300)
    relays = [OutboxRelay(session_factory=db.sessions, js=js, batch_size=25) for _ in range(4)]

    async def drain(relay: OutboxRelay) -> int:
        total = 0
        while published := await relay.publish_pending():
            total += published
        return total

    counts = await asyncio.gather(*(drain(relay) for relay in relays))
    # Each row was claimed by exactly one replica (a double publish would be hidden by JetStream's
    # de-duplication, so count the claims, not the stored messages).
    assert sum(counts) == 300
    assert (await js.stream_info(stream_name(db.service))).state.messages == 300


async def test_a_failed_publish_is_recorded_and_retried(service_db, js) -> None:
    db = await service_db(unique("rel"))
    # No stream yet: JetStream has no responder for the subject.
    [event_id] = await stage(db, f"{db.service}.case.opened", 1)
    relay = OutboxRelay(session_factory=db.sessions, js=js, publish_timeout=1.0)

    with pytest.raises(PublishError) as failure:
        await relay.publish_pending()
    assert (failure.value.published, failure.value.failed) == (0, 1)
    [row] = (await db.rows(select(OutboxEvent)))[0]
    assert row.published_at is None and row.attempts == 1 and row.last_error

    await ensure_stream(js, db.service)
    assert await relay.publish_pending() == 1
    assert (await js.stream_info(stream_name(db.service))).state.messages == 1


async def test_run_forever_publishes_on_wake_and_stops_cleanly(service_db, js) -> None:
    db = await service_db(unique("rel"))
    await ensure_stream(js, db.service)
    relay = OutboxRelay(session_factory=db.sessions, js=js, interval=30.0)
    task = asyncio.create_task(relay.run_forever())
    try:
        await asyncio.sleep(0.2)  # the first pass found nothing; next one only on wake
        async with db.uow(on_commit=relay.wake) as uow:
            uow.emit(f"{db.service}.case.opened", {"n": 1})
            await uow.commit()
        for _ in range(100):
            if (await js.stream_info(stream_name(db.service))).state.messages == 1:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the woken relay did not publish")
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
    assert done and task.cancelled()


async def test_rows_published_longer_ago_than_the_retention_are_pruned_in_batches(service_db, js) -> None:
    db = await service_db(unique("rel"))
    await ensure_stream(js, db.service)
    ids = await stage(db, f"{db.service}.case.opened", 6)
    relay = OutboxRelay(session_factory=db.sessions, js=js, retention=24 * 3600.0, prune_batch=2)
    assert await relay.publish_pending() == 6
    stuck = (await stage(db, f"{db.service}.case.opened", 1))[0]  # never published
    async with db.sessions() as session, session.begin():
        # Three rows published 25 hours ago (database time, as the relay's), one 23 hours ago;
        # the unpublished row was created long ago.
        await session.execute(update(OutboxEvent).where(OutboxEvent.event_id.in_(ids[:3]))
                              .values(published_at=text("now() - interval '25 hours'")))
        await session.execute(update(OutboxEvent).where(OutboxEvent.event_id == ids[3])
                              .values(published_at=text("now() - interval '23 hours'")))
        await session.execute(update(OutboxEvent).where(OutboxEvent.event_id == stuck)
                              .values(created_at=text("now() - interval '30 days'")))

    assert await relay.prune_published() == 3  # 2 + 1: two statements
    assert await relay.prune_published() == 0
    left = {row.event_id for (row,) in await db.rows(select(OutboxEvent))}
    assert left == {*ids[3:], stuck}
    assert await OutboxRelay(session_factory=db.sessions, js=js, retention=None).prune_published() == 0


async def test_run_forever_prunes_when_idle(service_db, js) -> None:
    db = await service_db(unique("rel"))
    await ensure_stream(js, db.service)
    relay = OutboxRelay(session_factory=db.sessions, js=js, interval=0.05, retention=3600.0,
                        prune_every=0.1)
    ids = await stage(db, f"{db.service}.case.opened", 3)
    assert await relay.publish_pending() == 3
    async with db.sessions() as session, session.begin():
        await session.execute(update(OutboxEvent).where(OutboxEvent.event_id.in_(ids[:2]))
                              .values(published_at=text("now() - interval '2 hours'")))
    task = asyncio.create_task(relay.run_forever())
    try:
        for _ in range(200):
            if await db.count(OutboxEvent) == 1:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=2)
    assert [row.event_id for (row,) in await db.rows(select(OutboxEvent))] == [ids[2]]
