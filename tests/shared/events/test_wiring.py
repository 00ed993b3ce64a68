"""The handler registry, stream set-up and the EventBus starting while NATS is down."""

from __future__ import annotations

import asyncio

import pytest

from deploy.embedded import EmbeddedNats, free_port
from shared.events import CloudEvent, EventBus, EventHandlers
from shared.events.connection import connect_nats
from shared.events.models import OutboxEvent
from shared.events.streams import ensure_stream, service_of, stream_name
from tests.shared.events.conftest import eventually, unique


def test_handlers_group_subjects_by_producing_stream() -> None:
    handlers = EventHandlers()

    async def handler(event: CloudEvent, *, uow) -> None: ...

    handlers.on("eligibility.benefit.granted")(handler)
    handlers.on("eligibility.person.deceased")(handler)
    handlers.on("relief.case.paid")(handler)
    assert handlers.subjects == ["eligibility.benefit.granted", "eligibility.person.deceased",
                                 "relief.case.paid"]
    assert handlers.streams == {
        "eligibility": ["eligibility.benefit.granted", "eligibility.person.deceased"],
        "relief": ["relief.case.paid"],
    }
    assert handlers.get("relief.case.paid") is handler and handlers.get("relief.case.opened") is None
    with pytest.raises(ValueError):
        handlers.on("relief.case.paid")(handler)
    for bad in ("relief.paid", "relief.case.*", "relief.>"):
        with pytest.raises(ValueError):
            handlers.on(bad)


def test_stream_names() -> None:
    assert stream_name("eligibility") == "ELIGIBILITY"
    assert service_of("care.alert.escalated") == "care"
    for bad in ("Relief", "re.lief", "", "a b"):
        with pytest.raises(ValueError):
            stream_name(bad)


async def test_ensure_stream_is_idempotent_and_updates_a_drifted_config(nats_url) -> None:
    service = unique("str")
    nc = await connect_nats(nats_url, name="test-streams")
    try:
        js = nc.jetstream()
        first = await ensure_stream(js, service)
        assert first.config.subjects == [f"{service}.>"] and first.config.duplicate_window == 120
        await asyncio.gather(ensure_stream(js, service), ensure_stream(js, service))
        updated = await ensure_stream(js, service, duplicate_window_seconds=300)
        assert updated.config.duplicate_window == 300
        await js.publish(f"{service}.case.opened", b"{}")  # subjects <service>.> are captured
    finally:
        await nc.close()


async def test_a_bus_starts_while_nats_is_down_and_catches_up(service_db, tmp_path) -> None:
    db = await service_db(unique("late"))
    server = EmbeddedNats(tmp_path / "nats", free_port())
    bus = EventBus(service=db.service, nats_url=server.url, session_factory=db.sessions,
                   relay_interval=0.05)
    try:
        await asyncio.wait_for(bus.start(), 1.0)  # does not wait for NATS
        assert not bus.ready and not bus.connected
        async with bus.unit_of_work("corr-1") as uow:
            event = uow.emit(f"{db.service}.case.opened", {"n": 1})
            await uow.commit()

        await asyncio.to_thread(server.start)
        await eventually(lambda: bus.ready, timeout=10)
        await eventually(lambda: db.count(OutboxEvent, OutboxEvent.published_at.is_not(None)))
        stored = await bus.nats.jetstream().get_msg(stream_name(db.service), 1)
        assert CloudEvent.model_validate_json(stored.data) == event
        assert event.correlationid == "corr-1" and event.source == f"/services/{db.service}"
    finally:
        await bus.stop(grace=1.0)
        await asyncio.to_thread(server.stop)
    assert not bus.connected
