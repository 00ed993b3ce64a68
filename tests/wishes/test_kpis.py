"""``GET /api/v1/wishes/kpis`` through the gateway: the year's wishes published, adopted and
fulfilled per town and for the district against 5 per village (505), with town scoping.

The campaign here starts in 2029, a year no other test uses, so the counts are exactly this
module's: wishes are entered, published, pledged, delivered, confirmed and let expire through the
API, as the villages, towns and donors would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from shared import regions
from tests.wishes.conftest import START, WishWorld, village_codes

YEAR = 2029
TOWN_A, TOWN_B = regions.TOWNS[0].code, regions.TOWNS[1].code  # 山腰街道, 南埔镇: 15 villages each
KPIS = "/api/v1/wishes/kpis"


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.2)


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code, response.text


async def pledge_all(donor: httpx.AsyncClient, wish_id: int) -> dict[str, Any]:
    response = await donor.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish_id}]})
    assert response.status_code == 201, response.text
    return response.json()["pledges"][0]


@pytest.fixture(scope="module")
async def campaign_2029(world: WishWorld, set_clock) -> dict[str, Any]:
    """Town A: an open wish, one delivered (adopted), one confirmed (fulfilled), one only
    entered; town B: one open wish and one whose pledge expired (not adopted any more)."""
    await set_clock(f"{YEAR}-03-05T09:00:00+08:00")
    created = await world.api.post("/api/v1/wishes/campaigns", json={
        "name": f"微光成炬 {YEAR} {uuid.uuid4().hex[:6]}", "starts_on": f"{YEAR}-03-01", "ends_on": f"{YEAR}-12-31"})
    assert created.status_code == 201, created.text
    campaign = created.json()["id"]
    a, b = village_codes(0), village_codes(1)
    (_, donor), (_, forgetful) = await world.donor_pool(2)
    open_a = await world.published_wish(a[0], cost="150.00", campaign_id=campaign)
    delivered = await world.published_wish(a[1], cost="200.00", campaign_id=campaign)
    confirmed = await world.published_wish(a[2], cost="300.00", campaign_id=campaign)
    entered_only = await world.enter(await world.family(a[3]), campaign_id=campaign)
    assert entered_only.status_code == 201, entered_only.text
    await world.published_wish(b[0], cost="80.00", campaign_id=campaign)
    lapsing = await world.published_wish(b[1], cost="120.00", campaign_id=campaign)
    for wish in (delivered, confirmed):
        pledge = await pledge_all(donor, wish["id"])
        done = await donor.post(f"/api/v1/wishes/pledges/{pledge['id']}:deliver", json={"note": "送到村委会"})
        assert done.status_code == 200, done.text
    officer = await world.officer(a[2])
    receipt = await officer.post(f"/api/v1/wishes/wishes/{confirmed['id']}:confirm", json={"confirmed_by": "family"})
    assert receipt.status_code == 200 and receipt.json()["status"] == "confirmed", receipt.text
    lapsed = await pledge_all(forgetful, lapsing["id"])
    before = (await world.api.get(KPIS, params={"year": YEAR, "town": TOWN_B})).json()
    assert before["towns"][0]["adopted"] == 1  # fully pledged, for now
    await set_clock(f"{YEAR}-04-04T09:00:00+08:00")  # 30 days on: the undelivered pledge lapses

    async def expired() -> bool:
        return (await forgetful.get(f"/api/v1/wishes/pledges/{lapsed['id']}")).json()["status"] == "expired"

    await wait_until(expired)
    yield {"campaign": campaign, "open_a": open_a}
    await set_clock(START)


async def test_counts_per_town_and_district_against_505(world: WishWorld, campaign_2029) -> None:
    response = await world.api.get(KPIS, params={"year": YEAR})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["year"] == YEAR
    towns = {t["town"]: t for t in body["towns"]}
    assert [t["town"] for t in body["towns"]] == [t.code for t in regions.TOWNS]
    assert towns[TOWN_A] == {"town": TOWN_A, "town_name": "山腰街道", "villages": 15, "target": 75,
                             "published": 3, "adopted": 2, "fulfilled": 1}
    assert towns[TOWN_B] == {"town": TOWN_B, "town_name": "南埔镇", "villages": 15, "target": 75,
                             "published": 2, "adopted": 0, "fulfilled": 0}
    assert all((t["published"], t["adopted"], t["fulfilled"]) == (0, 0, 0) for c, t in towns.items() if c not in (TOWN_A, TOWN_B))
    assert sum(t["villages"] for t in body["towns"]) == 101
    assert body["district"] == {"town": "350505", "town_name": "泉港区", "villages": 101, "target": 505,
                                "published": 5, "adopted": 2, "fulfilled": 1}


async def test_another_year_counts_nothing_of_this_campaign(world: WishWorld, campaign_2029) -> None:
    body = (await world.api.get(KPIS, params={"year": YEAR + 1})).json()
    assert body["district"]["published"] == 0 and body["district"]["target"] == 505


async def test_town_staff_see_their_own_town_only(world: WishWorld, campaign_2029) -> None:
    staff = world.client(await world.user("town_caseworker", town=TOWN_A))
    own = await staff.get(KPIS, params={"year": YEAR})
    assert own.status_code == 200, own.text
    body = own.json()
    assert [t["town"] for t in body["towns"]] == [TOWN_A]
    assert body["district"]["published"] == 3 and body["district"]["target"] == 75  # its own town's sum
    assert (await staff.get(KPIS, params={"year": YEAR, "town": TOWN_A})).json()["towns"][0]["fulfilled"] == 1
    problem(await staff.get(KPIS, params={"year": YEAR, "town": TOWN_B}), 404, "not_found")
    auditor = world.client(await world.user("auditor"))
    assert (await auditor.get(KPIS, params={"year": YEAR, "town": TOWN_B})).json()["towns"][0]["published"] == 2


async def test_bad_input_and_other_roles_are_refused(world: WishWorld, campaign_2029) -> None:
    problem(await world.api.get(KPIS, params={"year": YEAR, "town": "350505999"}), 422, "unknown_town")
    assert (await world.api.get(KPIS, params={"year": "twenty"})).status_code == 422
    assert (await world.api.get(KPIS)).status_code == 422
    (_, donor), = await world.donor_pool(1)
    problem(await donor.get(KPIS, params={"year": YEAR}), 403, "forbidden")
    problem(await world.public.get(KPIS, params={"year": YEAR}), 401, "unauthorized")
