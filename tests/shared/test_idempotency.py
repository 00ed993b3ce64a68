"""shared.idempotency against real PostgreSQL: requests racing with one Idempotency-Key are
serialized, so every one of them gets the first answer and the write happens once."""

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI, Header
from sqlalchemy import func, select, text

from shared.clock import SystemClock
from shared.db import InfraBase, UnitOfWork, make_engine, make_sessionmaker
from shared.errors import Problem, install_problem_handlers
from shared.idempotency import Idempotency, IdempotencyRecord, lock_id


@pytest.fixture
async def world(databases):
    engine = make_engine(await databases.create("idem"), pool_size=10)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: InfraBase.metadata.create_all(sync, tables=[IdempotencyRecord.__table__]))
        await conn.execute(text("CREATE TABLE person (id uuid PRIMARY KEY, id_number text UNIQUE NOT NULL)"))
    sessions = make_sessionmaker(engine)
    clock = SystemClock()
    failures: list[str] = []  # keys whose next attempt fails after taking the lock (then rolls back)
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/persons", status_code=201)
    async def register(body: dict, key: str | None = Header(None, alias="Idempotency-Key")) -> dict:
        # The shape of every call site: replay, then the write's own checks, the write, the record.
        idem = Idempotency(key, scope="caseworker:POST:/persons", payload=body)
        async with UnitOfWork(sessions, source="/t", clock=clock) as uow:
            replayed = await idem.replay(uow.session)
            if replayed is not None:
                return replayed[1]
            await asyncio.sleep(0.05)  # a slow write: every duplicate arrives meanwhile
            if key in failures:
                failures.remove(key)
                raise Problem(503, "unavailable", "the first attempt fails")
            taken = await uow.session.scalar(text("SELECT 1 FROM person WHERE id_number = :n"), {"n": body["id_number"]})
            if taken:
                raise Problem(409, "id_number_registered", "registered")
            out = {"id": str(uuid.uuid4()), "id_number": body["id_number"]}
            await uow.session.execute(text("INSERT INTO person VALUES (:id, :id_number)"), out)
            idem.record(uow.session, 201, out)
            await uow.commit()
            return out

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield client, engine, failures
    await engine.dispose()


async def _count(engine, table) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(text(table)))


async def test_twenty_concurrent_requests_with_one_key_all_get_the_first_answer(world) -> None:
    client, engine, _ = world
    body, key = {"id_number": "350505198001011234"}, {"Idempotency-Key": "k-" + uuid.uuid4().hex}
    answers = await asyncio.gather(*(client.post("/persons", json=body, headers=key) for _ in range(20)))
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
    assert len({a.text for a in answers}) == 1
    assert (await _count(engine, "person"), await _count(engine, "idempotency_records")) == (1, 1)
    reused = await client.post("/persons", json={"id_number": "11010519491231002X"}, headers=key)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")


async def test_when_the_first_fails_a_waiting_duplicate_runs_itself(world) -> None:
    client, engine, failures = world
    body, key = {"id_number": "350505198001011242"}, "k-" + uuid.uuid4().hex
    failures.append(key)
    first = asyncio.create_task(client.post("/persons", json=body, headers={"Idempotency-Key": key}))
    await asyncio.sleep(0.02)  # the first holds the key's lock
    second = await client.post("/persons", json=body, headers={"Idempotency-Key": key})
    assert ((await first).status_code, second.status_code) == (503, 201)
    assert second.json()["id_number"] == body["id_number"]


async def test_other_keys_are_not_serialized_and_lock_ids_are_stable() -> None:
    assert lock_id("a:POST:/x", "k1") == lock_id("a:POST:/x", "k1")
    assert lock_id("a:POST:/x", "k1") != lock_id("a:POST:/x", "k2")
    assert lock_id("a:POST:/x", "1") != lock_id("a:POST:/x1", "")  # the separator keeps them apart
    assert -(2**63) <= lock_id("s", "k") < 2**63
