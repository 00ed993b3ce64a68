"""shared.db unit of work and shared.idempotency, on a real PostgreSQL."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
