"""The suite as a whole: processes up, the shared clock, a calendar year reaching every service
through the gateway's outbox and JetStream, dead letters listed, the merged API document."""

import asyncio

import httpx

from deploy.suite import SERVICES


async def eventually(check, *, timeout: float = 15.0, interval: float = 0.2):
    """Poll ``check()`` (async) until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true after {timeout}s")
        await asyncio.sleep(interval)


async def test_every_service_answers_through_the_gateway(api) -> None:
    for service in SERVICES:
        response = await api.get(f"/api/v1/{service}/dead-letters")
        assert response.status_code == 200, (service, response.text)
        assert response.json() == {"items": [], "next_cursor": None}


async def test_dead_letters_need_a_token(gateway_url) -> None:
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        response = await client.get("/api/v1/relief/dead-letters")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_clock_setting_reaches_every_service(suite, set_clock) -> None:
    state = await set_clock("2020-05-09T10:00:00+08:00")
    assert state["now"].startswith("2020-05-09T02:00:00") or state["now"].startswith("2020-05-09T10:00:00")
    async with httpx.AsyncClient() as client:
        for service in SERVICES:
            seen = (await client.get(f"{suite.config.url(service)}/internal/clock")).json()
            assert seen["revision"] == state["revision"], service
            assert seen["now"] == state["now"], service
            assert seen["running"] is False


async def test_a_loaded_calendar_year_reaches_every_service(api) -> None:
    year = {"holidays": ["2027-01-01", "2027-02-08", "2027-02-09"], "workdays": ["2027-02-06"]}
    response = await api.put("/api/v1/calendar/years/2027", json=year)
    assert response.status_code in (200, 201), response.text

    for service in SERVICES:
        async def known() -> bool:
            items = (await api.get(f"/api/v1/{service}/calendar-years")).json()["items"]
            return any(i["year"] == 2027 and i["workdays"] == ["2027-02-06"] for i in items)

        await eventually(known)

    deadline = await api.post("/api/v1/calendar/deadline:evaluate", json={"start": "2027-02-05T10:00:00+08:00", "working_days": 1})
    assert deadline.status_code == 200, deadline.text
    # Saturday 6 February is the loaded make-up working day.
    assert deadline.json()["deadline_date"] == "2027-02-06" and deadline.json()["provisional"] is False


async def test_merged_openapi_lists_every_service(api) -> None:
    document = (await api.get("/openapi.json")).json()
    assert document["x-unavailable"] == []
    paths = document["paths"]
    for service in SERVICES:
        assert any(p.startswith(f"/api/v1/{service}/") for p in paths), service
    assert "/oauth/token" in paths
