"""shared.db unit of work and shared.idempotency, on a real PostgreSQL."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Integer, String, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

import shared.calendar_store  # noqa: F401 - registers infra tables
import shared.events.models  # noqa: F401
from shared.clock import ControllableClock
from shared.db import InfraBase, UnitOfWork, make_engine, make_sessionmaker, new_metadata
from shared.errors import Problem
from shared.events.models import OutboxEvent
from shared.idempotency import Idempotency


class Base(DeclarativeBase):
    metadata = new_metadata()


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


@pytest.fixture(scope="module")
async def sessionmaker(databases):
    engine = make_engine(await databases.create("shared_db"), pool_size=2)
    async with engine.begin() as conn:
        await conn.run_sync(InfraBase.metadata.create_all)
        await conn.run_sync(Base.metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


def uow(sessionmaker, woken: list | None = None) -> UnitOfWork:
    clock = ControllableClock(datetime(2020, 6, 15, tzinfo=UTC))
    return UnitOfWork(sessionmaker, source="/services/test", clock=clock, on_commit=(lambda: woken.append(1)) if woken is not None else None)


async def counts(sessionmaker) -> tuple[int, int]:
    async with sessionmaker() as session:
        things = await session.scalar(select(func.count()).select_from(Thing))
        events = await session.scalar(select(func.count()).select_from(OutboxEvent))
    return things, events


async def test_commit_stores_state_and_event_together(sessionmaker) -> None:
    before = await counts(sessionmaker)
    woken: list = []
    async with uow(sessionmaker, woken) as work:
        work.session.add(Thing(id=1, name="a"))
        event = work.emit("test.thing.created", {"id": 1}, subject="1")
        await work.commit()
    assert await counts(sessionmaker) == (before[0] + 1, before[1] + 1)
    assert woken == [1]
    async with sessionmaker() as session:
        row = await session.scalar(select(OutboxEvent).where(OutboxEvent.event_id == event.id))
    assert row.envelope["type"] == "test.thing.created" and row.envelope["time"].startswith("2020-06-15")


async def test_leaving_without_commit_rolls_back_state_and_events(sessionmaker) -> None:
    before = await counts(sessionmaker)
    woken: list = []
    async with uow(sessionmaker, woken) as work:
        work.session.add(Thing(id=2, name="b"))
        work.emit("test.thing.created", {"id": 2})
        await work.session.flush()
    assert await counts(sessionmaker) == before and woken == []


async def test_exception_rolls_back(sessionmaker) -> None:
    before = await counts(sessionmaker)
    with pytest.raises(RuntimeError):
        async with uow(sessionmaker) as work:
            work.session.add(Thing(id=3, name="c"))
            work.emit("test.thing.created", {"id": 3})
            raise RuntimeError("fail")
    assert await counts(sessionmaker) == before


def test_event_type_must_have_three_parts() -> None:
    from shared.events.envelope import new_event

    with pytest.raises(ValueError):
        new_event("thing.created", {}, source="/x", time=datetime(2020, 1, 1, tzinfo=UTC))


async def test_idempotency_replays_and_refuses_other_body(sessionmaker) -> None:
    idem = Idempotency("key-1", scope="u1 POST /x", payload={"amount": "10.00"})
    async with uow(sessionmaker) as work:
        assert await idem.replay(work.session) is None
        idem.record(work.session, 201, {"id": 7})
        await work.commit()
    async with uow(sessionmaker) as work:
        assert await idem.replay(work.session) == (201, {"id": 7})
        other = Idempotency("key-1", scope="u1 POST /x", payload={"amount": "11.00"})
        with pytest.raises(Problem) as caught:
            await other.replay(work.session)
        assert caught.value.code == "idempotency_key_reused"
        # Another caller may use the same key independently.
        assert await Idempotency("key-1", scope="u2 POST /x", payload={}).replay(work.session) is None


async def test_a_value_the_database_cannot_hold_is_422_not_500(sessionmaker) -> None:
    import httpx
    from fastapi import FastAPI

    from shared.errors import install_problem_handlers

    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict:
        async with sessionmaker() as session:
            await session.scalar(select(Thing).where(Thing.id == thing_id))
        return {}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/things/99999999999999999999")
    assert response.status_code == 422
    assert response.json()["code"] == "value_out_of_range"


async def outbox_types(sessionmaker, *event_ids: str) -> list[str]:
    """The event types of these events' outbox rows, in outbox order (seq)."""
    async with sessionmaker() as session:
        return list((await session.scalars(
            select(OutboxEvent.event_type).where(OutboxEvent.event_id.in_(event_ids)).order_by(OutboxEvent.seq)
        )).all())


async def test_events_of_a_rolled_back_savepoint_are_dropped_and_the_rest_kept_in_order(sessionmaker) -> None:
    from sqlalchemy.exc import IntegrityError

    async with uow(sessionmaker) as work:
        work.session.add(Thing(id=10, name="j"))
        await work.session.flush()
        ids = [work.emit("test.thing.before", {}).id]
        with pytest.raises(RuntimeError):
            async with work.session.begin_nested():
                ids.append(work.emit("test.thing.rolled_back", {}).id)
                raise RuntimeError("row rejected")
        # The pattern of a duplicate check: the flush fails inside a savepoint.
        with pytest.raises(IntegrityError):
            async with work.session.begin_nested():
                ids.append(work.emit("test.thing.duplicate", {}).id)
                work.session.add(Thing(id=10, name="again"))
                await work.session.flush()
        async with work.session.begin_nested():
            ids.append(work.emit("test.thing.released", {}).id)
            async with work.session.begin_nested():
                ids.append(work.emit("test.thing.inner", {}).id)
        ids.append(work.emit("test.thing.after", {}).id)
        await work.commit()
    assert await outbox_types(sessionmaker, *ids) == [
        "test.thing.before", "test.thing.released", "test.thing.inner", "test.thing.after"]


async def test_an_explicit_rollback_drops_the_events_emitted_before_it(sessionmaker) -> None:
    async with uow(sessionmaker) as work:
        first = work.emit("test.thing.dropped", {}).id
        await work.session.execute(select(1))
        await work.rollback()
        second = work.emit("test.thing.kept", {}).id
        await work.commit()
    assert await outbox_types(sessionmaker, first, second) == ["test.thing.kept"]


async def test_events_commit_with_pending_state_when_no_statement_ran_before(sessionmaker) -> None:
    """No statement before commit: the outbox rows begin the transaction the state joins."""
    before = await counts(sessionmaker)
    async with uow(sessionmaker) as work:
        work.session.add(Thing(id=11, name="k"))
        ids = [work.emit("test.thing.created", {"id": 11}, subject="11").id for _ in range(2)]
        await work.commit()
    assert await counts(sessionmaker) == (before[0] + 1, before[1] + 2)
    async with sessionmaker() as session:
        rows = (await session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_id.in_(ids)).order_by(OutboxEvent.seq))).all()
    assert [r.event_id for r in rows] == ids
    assert rows[0].envelope["subject"] == "11" and rows[0].envelope["data"] == {"id": 11}
    assert rows[0].published_at is None and rows[0].attempts == 0


async def _backend_pid(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(text("SELECT pg_backend_pid()"))


async def _terminate(url: str, pid: int) -> None:
    """Kill backend ``pid`` from another connection and wait until it is gone."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from shared.db import asyncpg_url

    killer = create_async_engine(asyncpg_url(url), poolclass=NullPool)
    try:
        async with killer.connect() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(200):
                alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
                if not await conn.scalar(alive, {"pid": pid}):
                    break
                await asyncio.sleep(0.02)
    finally:
        await killer.dispose()


@pytest.mark.parametrize("ping_after_idle", [2.0, 0.0])
async def test_a_pooled_connection_the_server_closed_is_replaced_without_an_error(
    databases, ping_after_idle
) -> None:
    """Without pool_pre_ping: the closed socket is noticed on checkout, or the ping of an idle one fails."""
    import asyncio

    url = await databases.create("shared_db_pool")
    engine = make_engine(url, pool_size=1, ping_after_idle=ping_after_idle)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            driver = (await (await session.connection()).get_raw_connection()).driver_connection
        await _terminate(url, pid)
        if ping_after_idle:
            for _ in range(200):  # asyncpg sees the server's goodbye once the loop reads it
                if driver.is_closed():
                    break
                await asyncio.sleep(0.01)
            assert driver.is_closed()
        # The next unit of work gets a new connection, with no error on the way.
        new_pid = await _backend_pid(sessions)
        assert new_pid != pid
        assert await _backend_pid(sessions) == new_pid  # and keeps it
    finally:
        await engine.dispose()
