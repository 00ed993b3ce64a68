"""Fixtures of the eligibility end-to-end tests: users of two towns, system clients, unique ID
numbers, and a tap on the ELIGIBILITY stream to read the events the service published."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from shared.db import make_engine, make_sessionmaker
from shared.ids import make_id_number
from shared.migrations import upgrade

TOWN_A = "350505100"  # 南埔镇
VILLAGE_A = "350505100001"
TOWN_B = "350505101"  # 界山镇
VILLAGE_B = "350505101001"

_rng = random.Random(uuid.uuid4().int)
_used: set[str] = set()


@asynccontextmanager
async def migrated_sessions(databases: Any, name: str, *, pool_size: int = 2) -> AsyncIterator[Any]:
    """A fresh eligibility database ``name`` at the head revision, and a sessionmaker on it (the
    ``*_db`` tests, which call the service's code without its HTTP layer)."""
    url = await databases.create(name)
    await asyncio.to_thread(upgrade, "eligibility", url)
    engine = make_engine(url, pool_size=pool_size)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def new_id_number(birth: date | None = None, sex: str = "male") -> str:
    """A valid resident ID number no other test of the session uses."""
    while True:
        day = birth or date(1940, 1, 1) + timedelta(days=_rng.randrange(0, 365 * 70))
        region = f"35{_rng.randrange(0, 10**4):04d}"
        number = make_id_number(region, day, _rng.randrange(0, 500), sex)  # type: ignore[arg-type]
        if number not in _used:
            _used.add(number)
            return number


def member(relation: str = "head", **fields: Any) -> dict[str, Any]:
    number = new_id_number(fields.pop("birth", None), fields.pop("sex", "male"))
    body = {"id_number": number, "name": fields.pop("name", "王𠮷"), "relation": relation}
    body.update(fields)
    return body


def household(town: str = TOWN_A, village: str = VILLAGE_A, members: list[dict] | None = None, **fields: Any) -> dict[str, Any]:
    body = {"town": town, "village": village, "address": "南埔镇南埔村3组5号", "members": members or [member()]}
    body.update(fields)
    return body


class Users:
    def __init__(self, gateway_url: str, tokens: dict[str, str]) -> None:
        self.gateway_url = gateway_url
        self.tokens = tokens

    def client(self, who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway_url, timeout=60, headers={"Authorization": f"Bearer {self.tokens[who]}", "X-Client": "pytest"})


async def _make_user(api: httpx.AsyncClient, gateway_url: str, role: str, town: str | None, village: str | None = None) -> str:
    """A staff user through the admin API and its token. (Local stand-in for the shared
    ``make_user`` fixture, which does not send the ``display_name`` the gateway requires.)"""
    from tests.conftest import get_token

    username = f"{role}_{uuid.uuid4().hex[:8]}"
    password = "pw-" + uuid.uuid4().hex
    body = {"username": username, "password": password, "roles": [role], "display_name": username}
    if town:
        body["town"] = town
    if village:
        body["village"] = village
    response = await api.post("/api/v1/admin/users", json=body)
    assert response.status_code == 201, response.text
    return await get_token(gateway_url, username, password)


@pytest.fixture(scope="session")
async def users(api: httpx.AsyncClient, gateway_url: str) -> Users:
    tokens: dict[str, str] = {}
    for who, role, town in (
        ("caseworker_a", "town_caseworker", TOWN_A),
        ("approver_a", "town_approver", TOWN_A),
        ("caseworker_b", "town_caseworker", TOWN_B),
        ("approver_b", "town_approver", TOWN_B),
        ("auditor", "auditor", None),
    ):
        tokens[who] = await _make_user(api, gateway_url, role, town)
    for who, scopes in (("public_security", ["public_security"]), ("medical_insurance", ["medical_insurance"])):
        response = await api.post("/api/v1/admin/clients", json={"name": f"{who} {uuid.uuid4().hex[:6]}", "scopes": scopes})
        assert response.status_code == 201, response.text
        created = response.json()
        async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
            token = await client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": created["client_id"],
                                                            "client_secret": created["client_secret"]})
        assert token.status_code == 200, token.text
        tokens[who] = token.json()["access_token"]
    return Users(gateway_url, tokens)


@pytest.fixture(scope="session")
async def clients(users: Users) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    opened = {who: users.client(who) for who in users.tokens}
    try:
        yield opened
    finally:
        for client in opened.values():
            await client.aclose()


class EventTap:
    """Every ``eligibility.>`` event on the stream, read with an ordered consumer."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 15.0, count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events if predicate(e)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} matching event(s) of {count} within {timeout}s")
            await asyncio.sleep(0.1)

    def of(self, event_type: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
        return lambda e: e["type"] == event_type and all(e["data"].get(k) == v for k, v in data.items())


@pytest.fixture(scope="session")
async def events(nats_server, suite) -> AsyncIterator[EventTap]:  # noqa: ANN001
    import nats

    tap = EventTap()
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

    async def on_message(msg) -> None:  # noqa: ANN001
        tap.events.append(json.loads(msg.data))

    for _ in range(100):  # the stream exists once the service's relay or a consumer created it
        try:
            sub = await js.subscribe("eligibility.>", cb=on_message, ordered_consumer=True)
            break
        except Exception:  # noqa: BLE001
            await asyncio.sleep(0.2)
    else:
        raise AssertionError("the ELIGIBILITY stream never appeared")
    try:
        yield tap
    finally:
        await sub.unsubscribe()
        await nc.close()
