"""Fixtures of the care service's tests.

Database level (``care_db``): a migrated care database with a controllable clock; the use cases
are called directly (concurrency of sweeps, SQL of the KPIs, the event handlers).
End to end (``registry``, ``care_events``): the suite through the gateway; tekun persons are
registered with the eligibility service and reach care through its events; what care publishes is
read back from its JetStream stream.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from shared.auth import Principal
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.ids import make_id_number
from shared.migrations import upgrade

_rng = random.Random()
_used_ids: set[str] = set()


def new_id_number(birth: date, sex: str = "male") -> str:
    """A valid ID number not used before in this session."""
    while True:
        number = make_id_number("350505", birth, _rng.randrange(500), sex)  # type: ignore[arg-type]
        if number not in _used_ids:
            _used_ids.add(number)
            return number


@dataclass
class CareDb:
    """A migrated care database with a controllable clock; ``uow()`` is a service unit of work."""

    url: str
    clock: ControllableClock

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url, pool_size=5)
        self.sessions = make_sessionmaker(self.engine)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, source="/services/care", clock=self.clock)

    def set(self, now: str) -> None:
        self.clock.set(datetime.fromisoformat(now))


@pytest.fixture(scope="module")
async def care_db(databases) -> AsyncIterator[CareDb]:
    url = await databases.create("care")
    await asyncio.to_thread(upgrade, "care", url)
    db = CareDb(url, ControllableClock(datetime.fromisoformat("2020-06-15T09:00:00+08:00")))
    yield db
    await db.engine.dispose()


def principal(role: str, town: str | None = None, subject: str | None = None) -> Principal:
    return Principal(subject=subject or f"{role}-{town or 'district'}", roles=frozenset({role}), town=town)


# --- end to end ---------------------------------------------------------------------------------


async def wait_for(check: Callable[[], Awaitable[Any]], *, timeout: float = 15.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def registry_member(*, birth: date = date(1940, 5, 1), sex: str = "male", name: str = "测试人员", **extra: Any) -> dict[str, Any]:
    """A ``person`` of an ``eligibility.household.*`` event (docs/events.md), for handler tests."""
    person = {
        "person_id": f"p-{uuid.uuid4().hex[:12]}", "name": name, "id_number": new_id_number(birth, sex), "sex": sex,
        "birth_date": birth.isoformat(), "relation": "head", "disability_grade": None, "disability_kind": None,
        "long_term_care": False, "serious_illness": False, "school_enrolment": "none",
        "work_injury_care_allowance": False, "bank_account": None, "deceased_on": None, "left_behind": None,
        "orphan": None, "child_without_care": False, "revolutionary_veteran": False, "status": "active",
    }
    person.update(extra)
    return person


class Registry:
    """The assistance registry as the care tests need it, through the gateway: the eligibility
    service registers households and tekun persons and reports deaths; care projects them from
    eligibility's events."""

    def __init__(self, api: Any) -> None:
        self.api = api

    async def care_person(self, eligibility_person_id: str, *, tekun: bool | None = None) -> dict[str, Any]:
        """Wait until care has projected the person (and its tekun flag); its summary."""

        async def found() -> dict[str, Any] | None:
            response = await self.api.get("/api/v1/care/persons", params={"eligibility_person_id": eligibility_person_id})
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            if items and (tekun is None or items[0]["tekun"] is tekun):
                return items[0]
            return None

        return await wait_for(found)

    async def tekun_person(
        self, *, town: str, village: str | None = None, birth: date = date(1940, 5, 1), sex: str = "male",
        name: str = "测试人员", disability_grade: int | None = None, disability_kind: str | None = None,
    ) -> dict[str, Any]:
        """A tekun person, the real way: the eligibility service registers a lone elderly person's
        household and enters them on the tekun roster (存量对象录入, R-TK-1); care projects the
        person from ``household.registered`` and ``benefit.granted``. The care summary, with
        ``member`` (the registry's person) and ``household_id``."""
        from shared.regions import villages_of

        member: dict[str, Any] = {"id_number": new_id_number(birth, sex), "name": name, "relation": "head"}
        if disability_grade is not None:
            member |= {"disability_grade": disability_grade, "disability_kind": disability_kind}
        response = await self.api.post("/api/v1/eligibility/households", json={
            "town": town, "village": village or villages_of(town)[0].code, "address": "测试地址1号",
            "lonely_elderly": True, "members": [member]})
        assert response.status_code == 201, response.text
        household = response.json()
        registered = household["members"][0]
        entered = await self.api.post(f"/api/v1/eligibility/households/{household['household_id']}/roster-entries",
                                      json={"category": "tekun", "person_id": registered["person_id"], "approved_on": "2020-01-15"})
        assert entered.status_code == 201, entered.text
        assert [b["category"] for b in entered.json()["benefits"]] == ["tekun"], entered.text
        person = await self.care_person(str(registered["person_id"]), tekun=True)
        person["member"] = {**registered, "person_id": str(registered["person_id"])}
        person["household_id"] = str(household["household_id"])
        return person

    async def registry_person(self, *, town: str, birth: date = date(1950, 1, 1)) -> dict[str, Any]:
        """A person the registry knows (a household registered in eligibility), not tekun."""
        from shared.regions import villages_of

        response = await self.api.post("/api/v1/eligibility/households", json={
            "town": town, "village": villages_of(town)[0].code, "address": "测试地址2号",
            "members": [{"id_number": new_id_number(birth), "name": "登记人员", "relation": "head"}]})
        assert response.status_code == 201, response.text
        return await self.care_person(str(response.json()["members"][0]["person_id"]))

    async def death(self, id_number: str, died_on: str) -> None:
        """Public security reports a death to eligibility (which emits ``person.deceased``)."""
        response = await self.api.post("/api/v1/eligibility/departments/deaths", json={
            "rows": [{"id_number": id_number, "died_on": died_on, "reference": f"gaj-{uuid.uuid4().hex[:8]}"}]})
        assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
        batch = await self.api.get(f"/api/v1/eligibility/departments/batches/{response.json()['batch_id']}")
        assert batch.json()["applied"] == 1, batch.text  # the outcome is in the staff's batch record


@pytest.fixture(scope="session")
async def nats_js(nats_server, suite) -> AsyncIterator[Any]:
    import nats

    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture(scope="session")
async def registry(api) -> Registry:
    return Registry(api)


class CareEvents:
    """Reads what the care service published on its stream (``CARE``)."""

    def __init__(self, js: Any) -> None:
        self.js = js

    async def of_type(self, event_type: str) -> list[dict[str, Any]]:
        """Every event of ``event_type`` in the stream so far (an ephemeral consumer, from the start)."""
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import ConsumerConfig, DeliverPolicy

        subscription = await self.js.pull_subscribe(
            event_type, stream="CARE", config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0)
        )
        found: list[dict[str, Any]] = []
        try:
            while True:
                try:
                    messages = await subscription.fetch(500, timeout=0.5)
                except (NatsTimeout, TimeoutError):
                    break
                for message in messages:
                    found.append(json.loads(message.data))
                    await message.ack()
        finally:
            await subscription.unsubscribe()
        return found

    async def wait(self, event_type: str, predicate: Callable[[dict[str, Any]], bool], *, count: int = 1,
                   timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` events of the type match ``predicate``; all matching ones."""

        async def check() -> list[dict[str, Any]] | None:
            matching = [e for e in await self.of_type(event_type) if predicate(e)]
            return matching if len(matching) >= count else None

        return await wait_for(check, timeout=timeout, interval=0.5)


@pytest.fixture(scope="session")
async def care_events(nats_js) -> CareEvents:
    return CareEvents(nats_js)


@pytest.fixture(scope="session")
async def make_staff(api):
    """Like tests/conftest.py's ``make_user`` (a user through the admin API → (username, token)),
    giving the ``display_name`` the gateway's user schema asks for."""
    from tests.conftest import get_token

    async def factory(role: str, *, town: str | None = None, village: str | None = None) -> tuple[str, str]:
        username = f"{role}_{uuid.uuid4().hex[:8]}"
        password = "pw-" + uuid.uuid4().hex
        body: dict[str, Any] = {"username": username, "password": password, "roles": [role], "display_name": username}
        if town:
            body["town"] = town
        if village:
            body["village"] = village
        response = await api.post("/api/v1/admin/users", json=body)
        assert response.status_code == 201, response.text
        return username, await get_token(str(api.base_url).rstrip("/"), username, password)

    return factory


# --- API helpers (village-scope tests) ---------------------------------------------------------


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_sub(token: str) -> str:
    """The ``sub`` claim of a JWT (read, not verified)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


async def every(api: httpx.AsyncClient, token: str, path: str, **params: str) -> list[dict]:
    """Every item of the care list ``path`` (under /api/v1/care) as ``token`` sees it, page by page."""
    items, cursor = [], None
    while True:
        response = await api.get(f"/api/v1/care{path}", headers=auth(token),
                                 params=params | {"limit": 500} | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items
