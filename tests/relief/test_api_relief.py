"""Relief end to end, through the gateway over real HTTP: acceptance cases (relief-tiers.json,
working-days.json), the case flow with reserve payments, bad input, SLA timers fired exactly once
with two relief processes, and a breach that fell due while the service was stopped."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.embedded import free_port
from deploy.suite import ROOT
from shared.calendar import TZ
from shared.ids import make_id_number
from tests.conftest import load_cases

TIERS = load_cases("relief-tiers.json")
WORKING_DAYS = load_cases("working-days.json")

# Each test owns a town (and year), so their reserves and lists never interfere.
T_TIER_FULL = "350505100"   # 南埔镇: allocation 20000.00 only
T_TIER_LOW = "350505001"    # 山腰街道: allocation 20000.00, then 6 × 3000.00 paid: 2000.00 left
T_FLOW = "350505101"        # 界山镇: the case flow (2020); the list's year filter (2021)
T_TIMERS = "350505102"      # 后龙镇: two relief processes
T_RESTART = "350505103"     # 峰尾镇: breach while stopped
T_DAYS = "350505105"        # 前黄镇: working-day cases, provisional deadlines
T_EMPTY = "350505106"       # 涂岭镇: bad input only (must stay empty)
PROBLEM = "application/problem+json"


async def eventually(check, *, timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll ``check()`` (async) until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


def case_body(town: str, *, amount: str = "1000.00", accepted_at: str | None = None, kind: str = "emergency",
              documents: list[str] | None = None, seq: int = 1) -> dict[str, Any]:
    """A non-local (migrant worker) emergency application; ``documents``: codes received."""
    body: dict[str, Any] = {
        "kind": kind, "town": town, "cause": "acute_illness", "reason": "e2e " + uuid.uuid4().hex[:6],
        "applicant": {"type": "non_local", "category": "migrant_worker", "name": "测试人",
                      "id_number": make_id_number("350505", date(1988, 8, 8), seq % 500, "male")},
        "amount": amount,
        "documents": [{"code": c, "received": True} for c in documents or []],
        "checks": [{"method": "wechat", "note": "video call"}],
    }
    if accepted_at:
        body["accepted_at"] = accepted_at
    return body


ALL_DOCUMENTS = ["application", "id_card", "incident_proof", "bank_account"]


class Client:
    """An authenticated client of one user."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http, self.headers = http, {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, **kw) -> httpx.Response:
        return await self.http.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def post(self, path: str, **kw) -> httpx.Response:
        return await self.http.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    async def put(self, path: str, **kw) -> httpx.Response:
        return await self.http.put(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)


async def new_user(api, gateway_url: str, role: str, town: str | None = None) -> str:
    """A staff user created through the admin API; returns a bearer token. (Like conftest's
    ``make_user``, plus the ``display_name`` the gateway requires.)"""
    from tests.conftest import get_token

    username, password = f"relief_{role}_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    body = {"username": username, "password": password, "display_name": f"relief e2e {role}", "roles": [role],
            **({"town": town} if town else {})}
    response = await api.post("/api/v1/admin/users", json=body)
    assert response.status_code == 201, response.text
    return await get_token(gateway_url, username, password)


class Users:
    """Staff of the towns used here, created on first use: ``await users.get("worker:<town>")``,
    ``"approver:<town>"``, ``"district"`` (the district approver)."""

    def __init__(self, api, gateway_url: str, http: httpx.AsyncClient) -> None:
        self.api, self.gateway_url, self.http = api, gateway_url, http
        self.cache: dict[str, Client] = {}

    async def get(self, key: str) -> Client:
        if key not in self.cache:
            role, _, town = key.partition(":")
            role = {"worker": "town_caseworker", "approver": "town_approver", "district": "district_approver"}[role]
            self.cache[key] = Client(self.http, await new_user(self.api, self.gateway_url, role, town or None))
        return self.cache[key]


@pytest.fixture(scope="module")
async def users(api, gateway_url):
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        yield Users(api, gateway_url, http)


async def open_case(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/relief/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def allocate(api, town: str, year: int, amount: str, kind: str = "allocation") -> dict[str, Any]:
    response = await api.post(f"/api/v1/relief/reserves/{town}/{year}/entries", json={"kind": kind, "amount": amount})
    assert response.status_code == 201, response.text
    return response.json()


async def stream_events(nats_url: str, event_type: str) -> list[dict[str, Any]]:
    """Every event of ``event_type`` in the RELIEF JetStream stream (an ephemeral consumer)."""
    import nats
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(
            event_type, stream="RELIEF",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE))
        found: list[dict[str, Any]] = []
        while True:
            try:
                found += [json.loads(m.data) for m in await sub.fetch(500, timeout=1)]
            except (NatsTimeout, asyncio.TimeoutError):
                break
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


async def timers(client: Client, case_id: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/api/v1/relief/cases/{case_id}/timers")
    assert response.status_code == 200, response.text
    return {t["kind"]: t for t in response.json()}


# -- R-TR-3 / R-TR-4: the approval-route calculator --------------------------------------------


@pytest.mark.parametrize("case", TIERS, ids=[f"{c['amount']}@{c['town_reserve_left']}" for c in TIERS])
async def test_acceptance_tiers_what_if(api, set_clock, case: dict) -> None:
    await set_clock("2020-08-03T09:00:00+08:00")
    response = await api.post("/api/v1/relief/approval-route:evaluate", json={
        "amount": case["amount"], "town": T_EMPTY, "reserve_left": case["town_reserve_left"]})
    check_route(response, case)
    if response.status_code == 200:
        assert response.json()["trace"]["figures"]["reserve_source"] == "what_if"


def check_route(response: httpx.Response, case: dict) -> None:
    body = response.json()
    if "approver" in case:
        assert response.status_code == 200, response.text
        assert (body["approver"], body["refused"], body["allowed"]) == (case["approver"], None, True)
        assert case["rule"] in body["trace"]["rule_ids"]
        assert {p["name"] for p in body["trace"]["parameters"]} == {"town_approval_limit", "case_cap"}
    elif case["refused"] == "reserve_insufficient":
        assert response.status_code == 200, response.text
        assert (body["approver"], body["refused"], body["allowed"]) == ("town", "reserve_insufficient", False)
        assert body["reserve_left"] == case["town_reserve_left"]
    else:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert body["code"] == case["refused"]


@pytest.fixture(scope="module")
async def tier_reserves(api, set_clock, users) -> None:
    """Through the funds and case APIs: 南埔 20000.00 left; 山腰 20000.00 allocated, 6 cases of
    3000.00 approved and paid from it, 2000.00 left (year 2020)."""
    await set_clock("2020-08-03T09:00:00+08:00")
    await allocate(api, T_TIER_FULL, 2020, "20000.00")
    await allocate(api, T_TIER_LOW, 2020, "20000.00")
    worker, approver = await users.get(f"worker:{T_TIER_LOW}"), await users.get(f"approver:{T_TIER_LOW}")
    for n in range(6):
        case = await open_case(worker, case_body(T_TIER_LOW, amount="3000.00", documents=ALL_DOCUMENTS, seq=n))
        approved = await approver.post(f"/api/v1/relief/cases/{case['id']}/approval", json={})
        assert approved.status_code == 200, approved.text
        assert approved.json()["approver"] == "town"
        paid = await approver.post(f"/api/v1/relief/cases/{case['id']}/payment", json={"reference": f"NP-{n}"})
        assert paid.status_code == 201, paid.text
    reserve = (await api.get(f"/api/v1/relief/reserves/{T_TIER_LOW}/2020")).json()
    assert (reserve["balance"], reserve["paid"], reserve["usage_rate"]) == ("2000.00", "18000.00", "0.9000")
    assert reserve["meets_target"] is True  # R-TR-4: 90 % reached


@pytest.mark.parametrize("case", TIERS, ids=[f"{c['amount']}@{c['town_reserve_left']}" for c in TIERS])
async def test_acceptance_tiers_from_the_ledger(api, set_clock, tier_reserves, case: dict) -> None:
    await set_clock("2020-08-03T09:00:00+08:00")
    town = {"20000.00": T_TIER_FULL, "2000.00": T_TIER_LOW}[case["town_reserve_left"]]
    response = await api.post("/api/v1/relief/approval-route:evaluate", json={"amount": case["amount"], "town": town})
    check_route(response, case)
    if response.status_code == 200:
        body = response.json()
        assert body["reserve_left"] == case["town_reserve_left"] and body["year"] == 2020
        assert body["trace"]["figures"]["reserve_source"] == "ledger"


# -- R-TR-2: working-day deadlines through the case API ----------------------------------------


@pytest.mark.parametrize("case", WORKING_DAYS, ids=[c["accepted_at"] for c in WORKING_DAYS])
async def test_acceptance_deadlines_through_cases(set_clock, users, case: dict) -> None:
    await set_clock(case["accepted_at"])
    opened = await open_case(await users.get(f"worker:{T_DAYS}"), case_body(T_DAYS, accepted_at=case["accepted_at"]))
    sla = opened["sla"]
    assert sla["deadline_date"] == case["deadline_date"]
    next_day = date.fromisoformat(case["deadline_date"]) + timedelta(days=1)
    assert sla["deadline_at"] == f"{next_day.isoformat()}T00:00:00+08:00"
    assert (sla["provisional"], sla["working_days"], sla["state"]) == (False, case["working_days"], "on_track")
    assert datetime.fromisoformat(opened["accepted_at"]) == datetime.fromisoformat(case["accepted_at"])


async def test_sla_calculator(api) -> None:
    response = await api.post("/api/v1/relief/sla:evaluate", json={"accepted_at": "2020-04-30T10:00:00+08:00"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["deadline_date"], body["deadline_at"], body["at_risk_at"]) == (
        "2020-05-11", "2020-05-12T00:00:00+08:00", "2020-05-10T00:00:00+08:00")
    assert body["trace"]["rule_ids"] == ["R-TR-2"]


async def test_provisional_deadline_recomputed_when_the_year_is_loaded(api, set_clock, users) -> None:
    await set_clock("2033-03-01T10:00:00+08:00")  # a Tuesday of a year nobody has loaded
    worker = await users.get(f"worker:{T_DAYS}")
    opened = await open_case(worker, case_body(T_DAYS))
    # Monday–Friday fallback: 2, 3, 4, 7, 8 March.
    assert (opened["sla"]["deadline_date"], opened["sla"]["provisional"]) == ("2033-03-08", True)
    loaded = await api.put("/api/v1/calendar/years/2033", json={"holidays": ["2033-03-03"], "workdays": []})
    assert loaded.status_code in (200, 201), loaded.text

    async def recomputed() -> dict | None:
        sla = (await worker.get(f"/api/v1/relief/cases/{opened['id']}")).json()["sla"]
        return sla if not sla["provisional"] else None

    sla = await eventually(recomputed)
    assert (sla["deadline_date"], sla["deadline_at"]) == ("2033-03-09", "2033-03-10T00:00:00+08:00")
    assert (await timers(worker, opened["id"]))["sla_breach"]["due_at"] == "2033-03-10T00:00:00+08:00"


# -- the case flow -------------------------------------------------------------------------------


async def test_case_flow_payment_once_and_town_scope(api, set_clock, users) -> None:
    await set_clock("2020-09-28T15:00:00+08:00")
    await allocate(api, T_FLOW, 2020, "10000.00")
    top_up = await api.post(f"/api/v1/relief/reserves/{T_FLOW}/2020/entries", json={"kind": "top_up", "amount": "500.00"},
                            headers={"Idempotency-Key": "topup-" + uuid.uuid4().hex})
    assert top_up.status_code == 201 and top_up.json()["balance_after"] == "10500.00"
    again = await api.post(f"/api/v1/relief/reserves/{T_FLOW}/2020/entries", json={"kind": "allocation", "amount": "1.00"})
    assert (again.status_code, again.json()["code"]) == (409, "already_allocated")

    worker, approver = await users.get(f"worker:{T_FLOW}"), await users.get(f"approver:{T_FLOW}")
    # Relief first, papers later (R-TR-5): only the application is in.
    case = await open_case(worker, case_body(T_FLOW, amount="2000.00", documents=["application"]))
    assert case["status"] == "open" and case["paperwork"]["missing"] == ["id_card", "incident_proof", "bank_account"]
    assert case["applicant"]["id_number"].startswith("350505")

    other_town = await users.get(f"approver:{T_TIMERS}")
    assert (await other_town.get(f"/api/v1/relief/cases/{case['id']}")).status_code == 404
    denied = await other_town.post(f"/api/v1/relief/cases/{case['id']}/approval", json={})
    assert denied.status_code == 404
    district = await users.get("district")
    wrong_tier = await district.post(f"/api/v1/relief/cases/{case['id']}/approval", json={})
    assert (wrong_tier.status_code, wrong_tier.json()["code"]) == (403, "approval_tier")

    approved = await approver.post(f"/api/v1/relief/cases/{case['id']}/approval", json={})
    assert approved.status_code == 200, approved.text
    approved = approved.json()
    assert (approved["status"], approved["approver"]) == ("approved", "town")
    # 10 working days after Monday 28 September 2020 (1–8 October off, Saturday 10 October worked).
    assert (approved["paperwork"]["due_date"], approved["paperwork"]["due_at"]) == ("2020-10-19", "2020-10-20T00:00:00+08:00")

    key = {"Idempotency-Key": "pay-" + uuid.uuid4().hex}
    first = await approver.post(f"/api/v1/relief/cases/{case['id']}/payment", json={"reference": "BANK-0001"}, headers=key)
    replay = await approver.post(f"/api/v1/relief/cases/{case['id']}/payment", json={"reference": "BANK-0001"}, headers=key)
    assert first.status_code == replay.status_code == 201
    assert first.json() == replay.json()
    assert (first.json()["fund"], first.json()["amount"], first.json()["reserve_year"]) == ("town_reserve", "2000.00", 2020)
    twice = await approver.post(f"/api/v1/relief/cases/{case['id']}/payment", json={"reference": "BANK-0002"})
    assert (twice.status_code, twice.json()["code"]) == (409, "already_paid")
    assert twice.headers["content-type"] == PROBLEM

    reserve = (await api.get(f"/api/v1/relief/reserves/{T_FLOW}/2020")).json()
    assert (reserve["allocated_total"], reserve["paid"], reserve["balance"]) == ("10500.00", "2000.00", "8500.00")
    entries = (await api.get(f"/api/v1/relief/reserves/{T_FLOW}/2020/entries")).json()["items"]
    assert [(e["kind"], e["amount"]) for e in entries] == [("allocation", "10000.00"), ("top_up", "500.00"), ("payment", "2000.00")]
    assert entries[-1]["case_id"] == case["id"] and entries[-1]["reference"] == "BANK-0001"

    # Paid within the SLA: met; the papers are still missing and overdue after 19 October.
    detail = (await worker.get(f"/api/v1/relief/cases/{case['id']}")).json()
    assert (detail["status"], detail["sla"]["state"], detail["payment"]["reference"]) == ("paid", "met", "BANK-0001")
    await set_clock("2020-10-20T08:00:00+08:00")

    async def overdue() -> bool:
        return (await timers(worker, case["id"])).get("paperwork_overdue", {}).get("outcome") == "fired"

    await eventually(overdue)
    assert "sla_breach" not in await timers(worker, case["id"])  # paid in time: no breach timer left
    # The missing papers arrive: complete.
    done = await worker.put(f"/api/v1/relief/cases/{case['id']}/documents",
                            json={"documents": [{"code": c, "received": True} for c in ALL_DOCUMENTS]})
    assert done.status_code == 200 and done.json()["paperwork"]["missing"] == []

    listed = (await worker.get("/api/v1/relief/cases", params={"sla_state": "met"})).json()["items"]
    assert case["id"] in {c["id"] for c in listed} and all(c["town"] == T_FLOW for c in listed)
    assert all("*" in (c["applicant"]["id_number"] or "*") for c in listed)  # masked in lists


async def test_non_local_and_vagrant_applicants(api, set_clock, users) -> None:
    await set_clock("2020-09-29T10:00:00+08:00")
    worker = await users.get(f"worker:{T_FLOW}")
    body = case_body(T_FLOW, kind="expenditure", amount="800.00", documents=["application"])
    body["applicant"] = {"type": "non_local", "category": "floating_population", "name": "某",
                         "id_number": make_id_number("350505", date(1970, 1, 1), 3, "female")}
    refused = await worker.post("/api/v1/relief/cases", json=body)
    assert (refused.status_code, refused.json()["code"]) == (422, "non_local_emergency_only")  # R-TR-6
    vagrant = await open_case(worker, {**case_body(T_FLOW), "applicant": {"type": "vagrant"}, "amount": None})
    assert (vagrant["status"], vagrant["referred_to"], vagrant["sla"]["state"]) == (
        "referred", "quangang_district_rescue_station", "not_applicable")


# -- bad input: 422 problem+json, nothing stored ---------------------------------------------------


async def count_cases(api) -> int:
    total, cursor = 0, None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/relief/cases", params=params)).json()
        total += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return total


@pytest.mark.parametrize(("change", "code"), [
    ({"amount": "0.00"}, "invalid_amount"),
    ({"amount": "-100.00"}, "invalid_amount"),
    ({"amount": "100.005"}, "invalid_amount"),
    ({"amount": 1000}, "invalid_amount"),  # money is a decimal string (API.md), not a JSON number
    ({"amount": "1.00\n"}, "invalid_amount"),
    ({"amount": " 1.00"}, "invalid_amount"),
    ({"accepted_at": "0001-01-01T00:00:00+08:00"}, "out_of_range"),  # was 500 (OverflowError)
    ({"accepted_at": "1900-01-01T00:00:00+08:00"}, "out_of_range"),  # LMT +08:05
    ({"checks": [{"method": "phone", "checked_at": "9999-12-31T23:59:59+08:00"}]}, "out_of_range"),
    ({"amount": "5000.01"}, "over_case_cap"),
    ({"town": "350505999"}, "unknown_town"),
    ({"applicant": {"type": "non_local", "category": "migrant_worker", "name": "x", "id_number": "350505198808080010"}}, "checksum"),
    ({"applicant": {"type": "non_local", "category": "migrant_worker", "name": "x", "id_number": "3505051988"}}, "length"),
])
async def test_bad_input_is_refused_and_nothing_stored(api, set_clock, users, change: dict, code: str) -> None:
    await set_clock("2020-08-03T09:00:00+08:00")
    before = await count_cases(api)
    response = await api.post("/api/v1/relief/cases", json={**case_body(T_EMPTY), **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code
    assert await count_cases(api) == before
    assert (await api.get("/api/v1/relief/cases", params={"town": T_EMPTY})).json()["items"] == []


async def test_cases_listed_by_year_of_acceptance(set_clock, users) -> None:
    """``GET /cases?year=``: the year of ``accepted_at`` in Asia/Shanghai (as the SLA KPIs count
    it). No case can be accepted before 2020 (no relief parameters in force), so the neighbours
    are the last half hour of 2020 and the first minutes of 2021 (still 2020 in UTC)."""
    await set_clock("2021-01-02T09:00:00+08:00")
    worker = await users.get(f"worker:{T_FLOW}")
    late = await open_case(worker, case_body(T_FLOW, accepted_at="2020-12-31T23:30:00+08:00", seq=41))
    early = await open_case(worker, case_body(T_FLOW, accepted_at="2021-01-01T00:10:00+08:00", seq=42))

    async def listed(**params: Any) -> list[dict[str, Any]]:
        response = await worker.get("/api/v1/relief/cases", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    assert [c["id"] for c in await listed(town=T_FLOW, year=2021)] == [early["id"]]  # 界山镇's 2021 is this test's
    in_2020 = await listed(town=T_FLOW, year=2020)
    assert late["id"] in {c["id"] for c in in_2020} and early["id"] not in {c["id"] for c in in_2020}
    assert all(datetime.fromisoformat(c["accepted_at"]).astimezone(TZ).year == 2020 for c in in_2020)
    assert await listed(year=2019) == []
    assert [c["id"] for c in await listed(year=2021, sla_state="on_track")] == [early["id"]]
    for value, code in (("abc", "int_parsing"), ("1800", "greater_than_equal"), ("2100", "less_than_equal")):
        response = await worker.get("/api/v1/relief/cases", params={"year": value})
        assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM), response.text
        assert response.json()["code"] == code and [e["field"] for e in response.json()["errors"]] == ["year"]


async def test_malformed_case_id_and_bad_calculator_input(api) -> None:
    response = await api.get("/api/v1/relief/cases/not-a-uuid")
    assert (response.status_code, response.json()["code"]) == (422, "invalid_id")
    response = await api.post("/api/v1/relief/approval-route:evaluate", json={"amount": "10.00", "town": "999"})
    assert (response.status_code, response.json()["code"]) == (422, "unknown_town")
    for path, body in (("sla:evaluate", {"accepted_at": "9999-12-31T23:59:59+08:00"}),
                       ("paperwork:evaluate", {"approved_at": "0001-01-01T00:00:00+08:00"}),
                       ("approval-route:evaluate", {"amount": "10.00", "town": T_FLOW, "on": "9999-12-31"})):
        response = await api.post(f"/api/v1/relief/{path}", json=body)
        assert (response.status_code, response.json()["code"]) == (422, "out_of_range"), (path, response.text)


async def test_reserve_year_and_amount_out_of_range_are_refused(api) -> None:
    for year, amount, code in (("2100", "1.00", "less_than_equal"), ("1999", "1.00", "greater_than_equal"),
                               ("2020", 1000, "not_a_string"), ("2020", "1.00\n", "not_a_number"),
                               ("2020", " 1.00", "not_a_number")):
        url = f"/api/v1/relief/reserves/{T_FLOW}/{year}/entries"
        before = (await api.get(f"/api/v1/relief/reserves/{T_FLOW}/2020/entries")).json()["items"]
        response = await api.post(url, json={"kind": "top_up", "amount": amount})
        assert (response.status_code, response.json()["code"]) == (422, code), response.text
        assert response.headers["content-type"] == PROBLEM
        assert (await api.get(f"/api/v1/relief/reserves/{T_FLOW}/2020/entries")).json()["items"] == before


# -- SLA timers: exactly once, two processes, restarts -----------------------------------------------


def spawn_second_relief(suite) -> tuple[subprocess.Popen, int]:
    """Another relief process on the suite's database and NATS (the gateway does not know it)."""
    port = free_port()
    env = {**suite.env_for("relief"), "RELIEF_PORT": str(port)}
    log = open(suite.config.log_dir / "relief-second.log", "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "services.relief.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    return process, port


async def test_breach_fires_once_with_two_relief_processes(suite, api, admin_token, set_clock, users, nats_server) -> None:
    await set_clock("2020-11-02T09:00:00+08:00")  # Monday: deadline 9 November, 24:00
    worker = await users.get(f"worker:{T_TIMERS}")
    ids = [(await open_case(worker, case_body(T_TIMERS, seq=n)))["id"] for n in range(12)]
    process, port = spawn_second_relief(suite)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as second:
            async def ready() -> bool:
                try:
                    return (await second.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    assert process.poll() is None, "the second relief process exited"
                    return False

            await eventually(ready, timeout=60)
            # The clock reaches both processes: the gateway pushes it to the suite's relief, the
            # test to the second one (same setting, same revision).
            state = await set_clock("2020-11-10T00:00:01+08:00")
            pushed = await second.put("/internal/clock", json={"now": state["now"], "running": False, "revision": state["revision"]},
                                      headers={"Authorization": f"Bearer {admin_token}"})
            assert pushed.status_code == 200, pushed.text

            async def all_breached() -> bool:
                fired = [(await timers(worker, i))["sla_breach"]["outcome"] == "fired" for i in ids]
                return all(fired)

            await eventually(all_breached)
            await asyncio.sleep(2.5)  # both loops make more passes: nothing fires again
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)

    async def published() -> list | None:
        events = [e for e in await stream_events(nats_server.url, "relief.sla.breached") if e["subject"] in ids]
        return events if len({e["subject"] for e in events}) == len(ids) else None

    events = await eventually(published)
    assert sorted(e["subject"] for e in events) == sorted(ids)  # exactly one breach per case
    for event in events[:3]:
        assert event["data"]["town"] == T_TIMERS and event["data"]["deadline_at"] == "2020-11-10T00:00:00+08:00"
        assert (await timers(worker, event["subject"]))["sla_breach"]["event_id"] == event["id"]
    # The at-risk warnings were moot (the deadline had passed): skipped, never published.
    at_risk = [e for e in await stream_events(nats_server.url, "relief.sla.at_risk") if e["subject"] in ids]
    assert at_risk == []
    breached = (await worker.get("/api/v1/relief/cases", params={"sla_state": "breached", "limit": 500})).json()["items"]
    assert set(ids) <= {c["id"] for c in breached}
    summary = (await api.get("/api/v1/relief/sla-summary", params={"town": T_TIMERS, "year": 2020})).json()
    assert summary["towns"][0]["breached"] >= 12 and summary["towns"][0]["town"] == T_TIMERS


async def test_at_risk_fires_when_one_working_day_remains(set_clock, users, nats_server) -> None:
    await set_clock("2020-04-30T10:00:00+08:00")
    worker = await users.get(f"worker:{T_TIMERS}")
    case = await open_case(worker, case_body(T_TIMERS))
    assert case["sla"]["at_risk_at"] == "2020-05-10T00:00:00+08:00"  # end of Saturday 9 May (make-up day)
    await set_clock("2020-05-10T08:00:00+08:00")

    async def warned() -> bool:
        return (await timers(worker, case["id"]))["sla_at_risk"]["outcome"] == "fired"

    await eventually(warned)
    detail = (await worker.get(f"/api/v1/relief/cases/{case['id']}")).json()
    assert detail["sla"]["state"] == "at_risk" and detail["sla"]["breach_notified_at"] is None


@pytest.mark.slow
async def test_breach_due_while_stopped_fires_at_start_up(suite, set_clock, users, nats_server) -> None:
    await set_clock("2020-12-01T09:00:00+08:00")  # Tuesday: deadline Tuesday 8 December, 24:00
    worker = await users.get(f"worker:{T_RESTART}")
    case = await open_case(worker, case_body(T_RESTART))
    assert case["sla"]["deadline_at"] == "2020-12-09T00:00:00+08:00"
    await asyncio.to_thread(suite.stop_process, "relief")
    try:
        await set_clock("2020-12-10T09:00:00+08:00")  # relief is down and misses the push
    finally:
        suite.spawn("relief")
        await suite.wait_ready(("relief",))

    async def fired() -> dict | None:
        breach = (await timers(worker, case["id"]))["sla_breach"]
        return breach if breach["outcome"] == "fired" else None

    breach = await eventually(fired, timeout=15)
    assert breach["fired_at"] == "2020-12-10T09:00:00+08:00"  # the shared clock, adopted at start-up

    async def published() -> list | None:
        events = [e for e in await stream_events(nats_server.url, "relief.sla.breached") if e["subject"] == case["id"]]
        return events or None

    assert len(await eventually(published)) == 1


# -- registered applicants (projection of eligibility's events), parameters, KPIs ----------------


async def test_registered_applicant_known_from_eligibility_events(api, set_clock, users) -> None:
    await set_clock("2020-10-12T10:00:00+08:00")
    import random

    id_number = make_id_number("350505", date(1950, 1, 1) + timedelta(days=random.randrange(15000)), random.randrange(500), "female")
    registered = await api.post("/api/v1/eligibility/households", json={
        "town": T_FLOW, "village": T_FLOW + "003", "address": "界山镇白石村", "members": [
            {"id_number": id_number, "name": "林某", "relation": "head"}]})
    assert registered.status_code == 201, registered.text
    household_id = registered.json()["id"] if "id" in registered.json() else registered.json()["household_id"]
    worker = await users.get(f"worker:{T_FLOW}")
    body = {**case_body(T_FLOW, kind="expenditure", amount="1500.00"), "cause": "medical_expense",
            "applicant": {"type": "registered", "id_number": id_number}}

    async def opened() -> dict | None:  # the household reaches relief as an event
        response = await worker.post("/api/v1/relief/cases", json=body)
        if response.status_code == 422 and response.json()["code"] == "unknown_person":
            return None
        assert response.status_code == 201, response.text
        return response.json()

    case = await eventually(opened)
    assert case["applicant"]["household_id"] == str(household_id)
    assert (case["applicant"]["type"], case["applicant"]["name"], case["applicant"]["id_number"]) == ("registered", "林某", id_number)
    assert case["sla"]["state"] == "not_applicable"  # R-TR-2 binds emergency relief
    approver = await users.get(f"approver:{T_FLOW}")
    refused = await approver.post(f"/api/v1/relief/cases/{case['id']}/approval", json={})
    assert (refused.status_code, refused.json()["code"]) == (409, "documents_missing")  # R-TR-5: emergency only
    listed = (await worker.get("/api/v1/relief/cases", params={"household_id": str(household_id)})).json()["items"]
    assert [c["id"] for c in listed] == [case["id"]]
    # Every eligibility event relief consumed so far in this session was handled.
    assert (await api.get("/api/v1/relief/dead-letters")).json()["items"] == []


async def test_a_person_of_another_town_is_not_revealed_nor_a_non_local(api, set_clock, users) -> None:
    """The tester's report: a caseworker of 南埔镇 (350505100) named a person registered in 界山镇
    (350505101) and got 201 with the name, full ID number, person and household ids. Now: 422
    ``unknown_person`` exactly as for an unknown ID number; as ``non_local`` 422
    ``registered_person`` (R-TR-6); nothing stored. The district is told plainly."""
    await set_clock("2020-10-13T10:00:00+08:00")
    import random

    id_number = make_id_number("350505", date(1950, 1, 1) + timedelta(days=random.randrange(15000)), random.randrange(500), "male")
    registered = await api.post("/api/v1/eligibility/households", json={
        "town": T_FLOW, "village": T_FLOW + "003", "address": "界山镇白石村", "members": [
            {"id_number": id_number, "name": "郑某", "relation": "head"}]})
    assert registered.status_code == 201, registered.text
    as_registered = {"kind": "emergency", "town": T_TIER_FULL, "amount": "100.00", "cause": "accident", "reason": "x",
                     "applicant": {"type": "registered", "id_number": id_number}}

    async def projected() -> dict | None:  # the district (``api``) sees the person once relief has the event
        response = await api.post("/api/v1/relief/cases", json=as_registered)
        assert response.status_code == 422, response.text
        return response.json() if response.json()["code"] == "applicant_other_town" else None

    assert (await eventually(projected))["applicant_town"] == T_FLOW
    before = await count_cases(api)
    worker = await users.get(f"worker:{T_TIER_FULL}")
    refused = await worker.post("/api/v1/relief/cases", json=as_registered)
    unknown_id = make_id_number("350505", date(1949, 12, 31), 499, "male")  # before the range above: never registered
    unknown = await worker.post("/api/v1/relief/cases", json={
        **as_registered, "applicant": {"type": "registered", "id_number": unknown_id}})
    assert (refused.status_code, refused.headers["content-type"], refused.json()["code"]) == (422, PROBLEM, "unknown_person")
    same = ("type", "title", "status", "detail", "code")
    assert {k: refused.json().get(k) for k in same} == {k: unknown.json().get(k) for k in same}
    assert set(refused.json()) == set(unknown.json())
    assert id_number not in refused.text and "郑某" not in refused.text
    as_non_local = {**as_registered, "applicant": {"type": "non_local", "category": "migrant_worker", "name": "郑某",
                                                    "id_number": id_number}}
    for who in (worker, await users.get(f"worker:{T_FLOW}")):
        body = {**as_non_local, "town": T_TIER_FULL if who is worker else T_FLOW}
        response = await who.post("/api/v1/relief/cases", json=body)
        assert (response.status_code, response.json()["code"]) == (422, "registered_person"), response.text
        assert id_number not in response.text and "郑某" not in response.text
    assert await count_cases(api) == before


async def test_case_reads_are_audited_and_queryable_by_the_auditor(api, gateway_url, set_clock, users) -> None:
    """A caseworker's reads of a case (name, full ID number) and of the list (names) are in
    ``GET /relief/audit-log``: who, which case, through which client, the path and request id,
    never the ID number. Only the auditor and the district administrator may query it."""
    await set_clock("2020-10-13T10:00:00+08:00")
    worker = await users.get(f"worker:{T_FLOW}")
    body = case_body(T_FLOW, amount="600.00", seq=77)
    case = await open_case(worker, body)
    client = {"User-Agent": "relief-audit-test"}
    read = await worker.get(f"/api/v1/relief/cases/{case['id']}", headers=client)
    assert read.status_code == 200 and read.json()["applicant"]["id_number"] == body["applicant"]["id_number"]
    listed = await worker.get("/api/v1/relief/cases", params={"town": T_FLOW, "limit": 500}, headers=client)
    assert case["id"] in {c["id"] for c in listed.json()["items"]}

    auditor = Client(users.http, await new_user(api, gateway_url, "auditor"))
    response = await auditor.get("/api/v1/relief/audit-log", params={"record_id": case["id"]})
    assert response.status_code == 200, response.text
    entries = response.json()["items"]
    assert [e["action"] for e in entries] == ["cases.list", "case.read"]  # newest first
    entry = entries[1]
    assert entry["actor"].startswith("relief_town_caseworker_") and entry["roles"] == ["town_caseworker"]
    assert (entry["town"], entry["client"], entry["record_type"], entry["record_id"], entry["record_town"]) == (
        T_FLOW, "relief-audit-test", "case", case["id"], T_FLOW)
    assert entry["path"] == f"/api/v1/relief/cases/{case['id']}"
    assert entry["request_id"] == read.headers["x-request-id"]
    assert entry["at"] in ("2020-10-13T02:00:00Z", "2020-10-13T02:00:00+00:00")
    assert body["applicant"]["id_number"] not in json.dumps(entries)

    mine = (await auditor.get("/api/v1/relief/audit-log", params={"actor": entry["actor"], "limit": 500})).json()["items"]
    assert {e["actor"] for e in mine} == {entry["actor"]} and entry["id"] in {e["id"] for e in mine}
    # Usernames are unique ignoring case: so is the filter (same rows, whatever the case typed).
    upper = (await auditor.get("/api/v1/relief/audit-log", params={"actor": entry["actor"].upper(), "limit": 500})).json()["items"]
    assert [e["id"] for e in upper] == [e["id"] for e in mine]
    unfiltered = (await auditor.get("/api/v1/relief/audit-log", params={"limit": 500})).json()["items"]
    assert (await auditor.get("/api/v1/relief/audit-log", params={"actor": "", "limit": 500})).json()["items"] == unfiltered
    window = {"record_id": case["id"], "from": "2020-10-13T10:00:00+08:00", "to": "2020-10-13T10:00:01+08:00"}
    assert len((await api.get("/api/v1/relief/audit-log", params=window)).json()["items"]) == 2  # district admin
    later = (await auditor.get("/api/v1/relief/audit-log", params={**window, "from": "2020-10-13T10:00:01+08:00"})).json()
    assert later == {"items": [], "next_cursor": None}
    for bad, code in (("2020-10-13T10:00:00", "timezone_aware"), ("1900-01-01T00:00:00+08:00", "out_of_range")):
        refused = await auditor.get("/api/v1/relief/audit-log", params={"from": bad})
        assert (refused.status_code, refused.json()["code"]) == (422, code)
    first = (await auditor.get("/api/v1/relief/audit-log", params={"record_id": case["id"], "limit": 1})).json()
    rest = (await auditor.get("/api/v1/relief/audit-log", params={"record_id": case["id"], "cursor": first["next_cursor"]})).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in entries] and rest["next_cursor"] is None

    for response in (await worker.get("/api/v1/relief/audit-log"), await (await users.get(f"approver:{T_FLOW}")).get("/api/v1/relief/audit-log")):
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    for params, code in (({"cursor": "WyJ4Il0"}, "invalid_cursor"), ({"from": "2020-10-13T10:00:00"}, "timezone_aware")):
        response = await auditor.get("/api/v1/relief/audit-log", params=params)
        assert (response.status_code, response.json()["code"]) == (422, code), response.text


async def test_parameters_are_versioned(api, users) -> None:
    listed = (await (await users.get(f"worker:{T_FLOW}")).get("/api/v1/relief/parameters", params={"on": "2020-06-01"})).json()
    assert {p["name"]: p["value"] for p in listed["items"]} == {
        "town_approval_limit": "3000.00", "case_cap": "5000.00", "sla_working_days": "5",
        "at_risk_working_days": "1", "paperwork_working_days": "10", "reserve_usage_target": "0.9"}
    forbidden = await (await users.get("district")).post("/api/v1/relief/parameters",
                                                        json={"name": "case_cap", "value": "6000.00", "valid_from": "2034-01-01"})
    assert forbidden.status_code == 403
    created = await api.post("/api/v1/relief/parameters", json={"name": "case_cap", "value": "6000.00", "valid_from": "2034-01-01"})
    assert created.status_code == 201, created.text
    before = await api.post("/api/v1/relief/approval-route:evaluate",
                            json={"amount": "5500.00", "town": T_EMPTY, "reserve_left": "0.00", "on": "2033-12-31"})
    after = await api.post("/api/v1/relief/approval-route:evaluate",
                           json={"amount": "5500.00", "town": T_EMPTY, "reserve_left": "0.00", "on": "2034-01-01"})
    assert (before.status_code, before.json()["code"]) == (422, "over_case_cap")
    assert (after.status_code, after.json()["approver"]) == (200, "district")
    assert created.json()["id"] in {p["id"] for p in after.json()["trace"]["parameters"]}
    bad = await api.post("/api/v1/relief/parameters", json={"name": "town_approval_limit", "value": "7000.00", "valid_from": "2034-06-01"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_parameter_value")  # above the cap


async def test_kpis(api, tier_reserves) -> None:
    kpis = (await api.get("/api/v1/relief/kpis", params={"year": 2020})).json()
    low = next(t for t in kpis["towns"] if t["town"] == T_TIER_LOW)
    assert (low["reserve_allocated"], low["reserve_paid"], low["usage_rate"], low["meets_usage_target"]) == (
        "20000.00", "18000.00", "0.9000", True)
    assert low["sla_met"] == 6 and low["sla_compliance_rate"] == "1.0000"
    full = next(t for t in kpis["towns"] if t["town"] == T_TIER_FULL)
    assert (full["usage_rate"], full["meets_usage_target"]) == ("0.0000", False)
