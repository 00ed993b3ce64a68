"""Helpers of the wishes end-to-end tests: a campaign, families, officers, reviewers and donors,
all made through the gateway. Families are registered through the eligibility API and reach the
wishes service as ``eligibility.household.registered`` events — the real chain."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest

from shared import regions
from shared.ids import make_id_number

START = "2020-06-15T09:00:00+08:00"
PROJECTION_TIMEOUT = 20.0


def village_codes(town_index: int) -> list[str]:
    """The villages of the ``town_index``-th town, in code order."""
    return [v.code for v in regions.villages_of(regions.TOWNS[town_index].code)]


@dataclass
class Family:
    household_id: str
    town: str
    village: str
    name: str
    id_number: str
    address: str
    projected: dict[str, Any] = field(default_factory=dict)


@dataclass
class WishWorld:
    """One test module's campaign and the people acting in it (each with its own client)."""

    gateway_url: str
    api: httpx.AsyncClient
    campaign_id: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(uuid.uuid4().int))
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    officers: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    reviewers: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    donors: list[tuple[str, httpx.AsyncClient]] = field(default_factory=list)
    _public: httpx.AsyncClient | None = None

    @property
    def public(self) -> httpx.AsyncClient:
        """A client without any token (the public board)."""
        if self._public is None:
            self._public = self.client()
        return self._public

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Idle connections are dropped well before uvicorn's 5 s keep-alive timeout, so a request
        # never goes out on a connection the server is closing.
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=2.0)
        client = httpx.AsyncClient(base_url=self.gateway_url, timeout=30, headers=headers, limits=limits)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))

    async def user(self, role: str, *, town: str | None = None, village: str | None = None) -> str:
        """A staff user made through ``POST /api/v1/admin/users``; returns a bearer token.

        (tests/conftest.py's ``make_user`` predates the gateway's required ``display_name``.)"""
        username, password = f"{role}_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
        body = {"username": username, "password": password, "roles": [role], "display_name": role}
        body |= {"town": town} if town else {}
        body |= {"village": village} if village else {}
        response = await self.api.post("/api/v1/admin/users", json=body)
        assert response.status_code == 201, response.text
        token = await self.api.post("/oauth/token", data={"grant_type": "password", "username": username,
                                                           "password": password})
        assert token.status_code == 200, token.text
        return token.json()["access_token"]

    async def officer(self, village: str) -> httpx.AsyncClient:
        """The village officer of ``village`` (token claims ``town`` and ``village``)."""
        if village not in self.officers:
            town = regions.town_of_village(village).code
            token = await self.user("village_officer", town=town, village=village)
            self.officers[village] = self.client(token)
        return self.officers[village]

    async def reviewer(self, town: str) -> httpx.AsyncClient:
        """A town approver of ``town``."""
        if town not in self.reviewers:
            token = await self.user("town_approver", town=town)
            self.reviewers[town] = self.client(token)
        return self.reviewers[town]

    async def donor(self) -> tuple[str, httpx.AsyncClient]:
        """A donor signed up through the public ``POST /oauth/register``; returns (sub, client)."""
        username, password = f"donor_{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
        public = self.public
        response = await public.post("/oauth/register", json={
            "username": username, "password": password, "display_name": "爱心人士"})
        assert response.status_code == 201, response.text
        token = await public.post("/oauth/token", data={"grant_type": "password", "username": username,
                                                          "password": password})
        assert token.status_code == 200, token.text
        client = self.client(token.json()["access_token"])
        me = await client.get("/api/v1/wishes/donors/me")
        assert me.status_code == 200, me.text
        return me.json()["subject"], client

    async def donor_pool(self, n: int) -> list[tuple[str, httpx.AsyncClient]]:
        """``n`` donors shared by the module's tests (signing up costs a password hash each)."""
        while len(self.donors) < n:
            self.donors.append(await self.donor())
        return self.donors[:n]

    def person(self, relation: str, *, child: bool = False, **extra: Any) -> dict[str, Any]:
        """A member for the eligibility API, with a fresh valid ID number and a name."""
        year = self.rng.randint(2008, 2015) if child else self.rng.randint(1935, 1999)
        birth = date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))
        number = make_id_number("350505", birth, self.rng.randint(0, 499), self.rng.choice(["male", "female"]))
        name = self.rng.choice("陈林黄张李王吴刘蔡杨") + self.rng.choice(["阿福", "秀英", "文华", "丽珍", "国平", "美玉"])
        return {"id_number": number, "name": name, "relation": relation, **extra}

    async def family(self, village: str, *, registered_poor: bool = True, lonely_elderly: bool = False,
                     members: tuple[dict[str, Any], ...] = ()) -> Family:
        """A household of ``village`` registered through the eligibility API
        (``POST /api/v1/eligibility/households``); returns once this service's projection has it,
        built from ``eligibility.household.registered``. ``members``: more people besides the
        head (see :meth:`person`)."""
        town = regions.town_of_village(village).code
        address = f"{regions.village(village).name}{self.rng.randint(1, 9)}组{self.rng.randint(1, 99)}号"
        for _ in range(5):  # a random ID number may already be registered (409): draw again
            head = self.person("head")
            body = {"town": town, "village": village, "address": address, "registered_poor": registered_poor,
                    "lonely_elderly": lonely_elderly, "members": [head, *members]}
            response = await self.api.post("/api/v1/eligibility/households", json=body)
            if response.status_code != 409:
                break
            members = tuple(self.person(m["relation"], **{k: m[k] for k in ("orphan", "child_without_care") if k in m})
                            for m in members)
        assert response.status_code == 201, response.text
        household_id = str(response.json()["household_id"])
        family = Family(household_id, town, village, head["name"], head["id_number"], address)
        family.projected = await self.wait_for_family(household_id, town)
        return family

    async def wait_for_family(self, household_id: str, town: str) -> dict[str, Any]:
        """This service's projection of the household, once its event has arrived."""
        reviewer = await self.reviewer(town)
        deadline = asyncio.get_running_loop().time() + PROJECTION_TIMEOUT
        while True:
            response = await reviewer.get(f"/api/v1/wishes/families/{household_id}")
            if response.status_code == 200:
                return response.json()
            assert response.status_code == 404, response.text
            assert asyncio.get_running_loop().time() < deadline, "the household never reached the wishes service"
            await asyncio.sleep(0.1)

    async def enter(self, family: Family, *, cost: str = "200.00", title: str = "一台电饭煲",
                    category: str = "appliance", description: str = "", campaign_id: int | None = None) -> httpx.Response:
        officer = await self.officer(family.village)
        return await officer.post(f"/api/v1/wishes/campaigns/{campaign_id or self.campaign_id}/wishes", json={
            "household_id": family.household_id, "category": category, "title": title,
            "description": description, "cost": cost})

    async def campaign(self) -> int:
        """A new campaign (2020-06-01 to 2020-12-31), with fresh village quotas."""
        response = await self.api.post("/api/v1/wishes/campaigns", json={
            "name": f"微光成炬 {uuid.uuid4().hex[:6]}", "starts_on": "2020-06-01", "ends_on": "2020-12-31"})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def published_wish(self, village: str, *, cost: str = "200.00", title: str = "一台电饭煲",
                             category: str = "appliance", campaign_id: int | None = None) -> dict[str, Any]:
        """A new family's wish, entered by the village and published by its town."""
        family = await self.family(village, registered_poor=True)
        entered = await self.enter(family, cost=cost, title=title, category=category, campaign_id=campaign_id)
        assert entered.status_code == 201, entered.text
        reviewer = await self.reviewer(family.town)
        published = await reviewer.post(f"/api/v1/wishes/wishes/{entered.json()['id']}:publish")
        assert published.status_code == 200, published.text
        return published.json()


@pytest.fixture(scope="module")
async def world(gateway_url: str, api: httpx.AsyncClient, set_clock) -> AsyncIterator[WishWorld]:
    """A fresh campaign at 2020-06-15 09:00 (Quanzhou) with its own quotas."""
    await set_clock(START)
    world = WishWorld(gateway_url, api)
    world.campaign_id = await world.campaign()
    try:
        yield world
    finally:
        await world.close()
