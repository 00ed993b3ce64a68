"""Visits and alerts through the gateway (R-LB-2, R-EP-1, R-LB-3): volunteers see only their
persons; visits with referrals; overdue visits and alert escalations fire once with two care
processes sweeping the same database."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import httpx
import pytest

from deploy.embedded import free_port
from tests.care.conftest import CareEvents, new_id_number, wait_for

TOWN = "350505106"  # 涂岭镇
VILLAGE = "350505106003"
ROOT = Path(__file__).resolve().parents[2]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_sub(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


async def new_person(api: httpx.AsyncClient, token: str, *, birth: date, name: str = "测试对象") -> dict:
    response = await api.post("/api/v1/care/persons", headers=auth(token), json={
        "name": name, "id_number": new_id_number(birth), "town": TOWN, "village": VILLAGE})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
async def world(api: httpx.AsyncClient, set_clock, make_staff) -> dict:
    await set_clock("2020-06-15T09:00:00+08:00")
    _, caseworker = await make_staff("town_caseworker", town=TOWN)
    volunteers = {}
    for label in ("v1", "v2"):
        _, token = await make_staff("volunteer", town=TOWN)
        response = await api.post("/api/v1/care/volunteers", headers=auth(caseworker), json={
            "sub": token_sub(token), "name": f"志愿者{label}", "town": TOWN, "team": "涂岭镇505志愿守护队"})
        assert response.status_code == 201, response.text
        volunteers[label] = {"token": token, **response.json()}
    child = await new_person(api, caseworker, birth=date(2012, 3, 1), name="留守儿童甲")
    response = await api.post("/api/v1/care/visit-plans", headers=auth(caseworker), json={
        "person_id": child["id"], "category": "left_behind_child", "volunteer_id": volunteers["v1"]["id"],
        "starts_on": "2020-06-01"})
    assert response.status_code == 201, response.text
    return {"caseworker": caseworker, "volunteers": volunteers, "child": child, "plan": response.json()}


async def test_a_volunteer_sees_only_the_persons_paired_with_them(api: httpx.AsyncClient, world: dict) -> None:
    plan, v1, v2 = world["plan"], world["volunteers"]["v1"], world["volunteers"]["v2"]
    assert (plan["interval_days"], plan["next_due"], plan["overdue"]) == (30, "2020-07-01", False)
    due = (await api.get("/api/v1/care/my/visits-due", params={"within_days": 30}, headers=auth(v1["token"]))).json()
    assert [(d["plan_id"], d["name"], d["next_due"], d["overdue"]) for d in due["items"]] == [
        (plan["id"], "留守儿童甲", "2020-07-01", False)]
    assert "id_number" not in due["items"][0]
    not_yet = (await api.get("/api/v1/care/my/visits-due", params={"within_days": 7}, headers=auth(v1["token"]))).json()
    assert not_yet["items"] == []
    other = (await api.get("/api/v1/care/my/visits-due", params={"within_days": 366}, headers=auth(v2["token"]))).json()
    assert other["items"] == []
    assert (await api.get(f"/api/v1/care/visit-plans/{plan['id']}", headers=auth(v2["token"]))).status_code == 404
    refused = await api.post(f"/api/v1/care/visit-plans/{plan['id']}/visits", headers=auth(v2["token"]), json={
        "visited_on": "2020-06-14", "method": "phone", "findings": "x"})
    assert refused.status_code == 404
    assert (await api.get(f"/api/v1/care/persons/{world['child']['id']}", headers=auth(v1["token"]))).status_code == 403
    staff_only = await api.get("/api/v1/care/my/visits-due", headers=auth(world["caseworker"]))
    assert staff_only.status_code == 403


async def test_a_visit_with_a_referral(api: httpx.AsyncClient, world: dict, care_events: CareEvents) -> None:
    plan, v1 = world["plan"], world["volunteers"]["v1"]
    path = f"/api/v1/care/visit-plans/{plan['id']}/visits"
    for body, code in [
        ({"visited_on": "2020-06-14", "method": "letter", "findings": "x"}, "literal_error"),
        ({"visited_on": "2020-06-16", "method": "phone", "findings": "x"}, "future_date"),
        ({"visited_on": "2020-05-30", "method": "phone", "findings": "x"}, "before_plan_start"),
        ({"visited_on": "2020-06-14", "method": "phone", "findings": "x",
          "referral": {"to": "relief", "reason": "needs_assessment"}}, "unknown_reason"),
    ]:
        response = await api.post(path, json=body, headers=auth(v1["token"]))
        assert (response.status_code, response.json()["code"]) == (422, code), response.text
    assert (await api.get(path, headers=auth(v1["token"]))).json() == {"items": [], "next_cursor": None}

    body = {"visited_on": "2020-06-14", "method": "wechat", "findings": "父母外出，祖母生病住院，生活困难",
            "referral": {"to": "relief", "reason": "emergency_hardship", "note": "祖母住院"}}
    key = {"Idempotency-Key": f"visit-{uuid.uuid4()}"}
    first = await api.post(path, json=body, headers={**auth(v1["token"]), **key})
    assert first.status_code == 201, first.text
    visit = first.json()
    assert (visit["on_time"], visit["due_on"], visit["next_due"], visit["method"]) == (True, "2020-07-01", "2020-07-14", "wechat")
    replay = await api.post(path, json=body, headers={**auth(v1["token"]), **key})
    assert (replay.status_code, replay.json()["id"]) == (201, visit["id"])
    reused = await api.post(path, json={**body, "method": "phone"}, headers={**auth(v1["token"]), **key})
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    page = (await api.get(path, params={"limit": 1}, headers=auth(world["caseworker"]))).json()
    assert ([v["id"] for v in page["items"]], page["next_cursor"]) == ([visit["id"]], None)
    forged = await api.get(path, params={"cursor": "WyJ4Il0"}, headers=auth(world["caseworker"]))  # ["x"]
    assert (forged.status_code, forged.json()["code"]) == (422, "invalid_cursor")

    [recorded] = await care_events.wait("care.visit.recorded", lambda e: e["subject"] == visit["id"])
    assert (recorded["data"]["method"], recorded["data"]["on_time"]) == ("wechat", True)
    [referral] = await care_events.wait("care.referral.created", lambda e: e["data"]["visit_id"] == visit["id"])
    data = referral["data"]
    assert (data["to"], data["reason"], data["person_id"], data["town"]) == ("relief", "emergency_hardship", None, TOWN)
    # not in the registry: the receiver needs to know who it is
    assert data["name"] == "留守儿童甲" and data["id_number"] == world["child"]["id_number"]
    listed = (await api.get("/api/v1/care/referrals", params={"town": TOWN})).json()["items"]
    assert [r["id"] for r in listed] == [data["referral_id"]]


def start_second_care(suite, log_path: Path) -> tuple[subprocess.Popen, str]:
    """A second care process on the same database and bus (as a second replica would be)."""
    port = free_port()
    env = suite.env_for("care")
    env["CARE_PORT"] = str(port)
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "services.care.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


async def test_overdue_visits_and_escalations_fire_once_with_two_processes(
    api: httpx.AsyncClient, world: dict, suite, set_clock, admin_token: str, care_events: CareEvents, tmp_path: Path,
) -> None:
    caseworker, v2 = world["caseworker"], world["volunteers"]["v2"]
    plan_ids = []
    for n in range(20):
        person = await new_person(api, caseworker, birth=date(1935 + n, 1, 1), name=f"失能老人{n}")
        response = await api.post("/api/v1/care/visit-plans", headers=auth(caseworker), json={
            "person_id": person["id"], "category": "dependent_elderly", "volunteer_id": v2["id"]})
        assert response.status_code == 201 and response.json()["next_due"] == "2020-06-29"
        plan_ids.append(response.json()["id"])
    serial = f"CLOUD-{uuid.uuid4().hex[:8]}"
    device = await api.post("/api/v1/care/devices", headers=auth(caseworker), json={
        "serial": serial, "kind": "fall_detector", "person_id": person["id"]})
    assert device.status_code == 201, device.text
    client = await api.post("/api/v1/admin/clients", json={"name": f"云守护平台{uuid.uuid4().hex[:4]}",
                                                           "scopes": ["device_platform"]})
    assert client.status_code == 201, client.text
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        token = (await anonymous.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client.json()["client_id"],
            "client_secret": client.json()["client_secret"]})).json()["access_token"]

    process, second = start_second_care(suite, tmp_path / "care-2.log")
    try:
        async with httpx.AsyncClient(timeout=5) as direct:
            async def ready() -> bool:
                try:
                    return (await direct.get(f"{second}/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for(ready, timeout=60)

            async def set_both(now: str) -> None:
                state = await set_clock(now)
                response = await direct.put(f"{second}/internal/clock", headers=auth(admin_token),
                                            json={"now": state["now"], "running": False, "revision": state["revision"]})
                assert response.status_code == 200, response.text

            # both processes now sweep the plans due 2020-06-29
            await set_both("2020-06-30T09:00:00+08:00")
            alert = await api.post("/api/v1/care/alerts", headers=auth(token), json={
                "device_serial": serial, "kind": "fall", "occurred_at": "2020-06-30T08:59:00+08:00", "external_id": "evt-1"})
            assert alert.status_code == 201, alert.text
            assert alert.json()["ack_deadline"] in ("2020-06-30T01:30:00Z", "2020-06-30T01:30:00+00:00")
            repeat = await api.post("/api/v1/care/alerts", headers=auth(token), json={
                "device_serial": serial, "kind": "fall", "occurred_at": "2020-06-30T08:59:00+08:00", "external_id": "evt-1"})
            assert (repeat.status_code, repeat.json()["id"]) == (200, alert.json()["id"])
            await set_both("2020-06-30T09:31:00+08:00")

            overdue = await care_events.wait("care.visit.overdue", lambda e: e["subject"] in plan_ids, count=20, timeout=30)
            escalated = await care_events.wait("care.alert.escalated", lambda e: e["subject"] == alert.json()["id"], timeout=30)
            await asyncio.sleep(3)  # several more passes of both sweepers
            overdue = [e for e in await care_events.of_type("care.visit.overdue") if e["subject"] in plan_ids]
            escalated = [e for e in await care_events.of_type("care.alert.escalated") if e["subject"] == alert.json()["id"]]
            assert Counter(e["subject"] for e in overdue) == {p: 1 for p in plan_ids}
            assert {e["data"]["due_on"] for e in overdue} == {"2020-06-29"}
            assert len(escalated) == 1 and escalated[0]["data"]["kind"] == "fall"
    finally:
        process.terminate()
        process.wait(15)

    plans = (await api.get("/api/v1/care/visit-plans", params={"volunteer_id": v2["id"], "overdue": "true", "limit": 100})).json()
    assert {p["id"]: (p["overdue"], p["overdue_count"]) for p in plans["items"]} == {p: (True, 1) for p in plan_ids}
    due = (await api.get("/api/v1/care/my/visits-due", params={"within_days": 0}, headers=auth(v2["token"]))).json()
    assert len(due["items"]) == 20 and all(d["overdue"] for d in due["items"])
    state = (await api.get(f"/api/v1/care/alerts/{escalated[0]['subject']}")).json()
    assert state["escalated"] is True and state["status"] == "open"


async def test_an_alert_is_assigned_acknowledged_and_closed(api: httpx.AsyncClient, world: dict, make_staff, set_clock) -> None:
    await set_clock("2020-06-15T09:00:00+08:00")
    caseworker = world["caseworker"]
    person = await new_person(api, caseworker, birth=date(1936, 8, 8), name="独居老人乙")
    serial = f"SOS-{uuid.uuid4().hex[:8]}"
    assert (await api.post("/api/v1/care/devices", headers=auth(caseworker), json={
        "serial": serial, "kind": "sos_button", "person_id": person["id"]})).status_code == 201
    client = (await api.post("/api/v1/admin/clients", json={"name": f"平台{uuid.uuid4().hex[:4]}", "scopes": ["device_platform"]})).json()
    other = (await api.post("/api/v1/admin/clients", json={"name": f"统计{uuid.uuid4().hex[:4]}", "scopes": ["statistics"]})).json()
    tokens = {}
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        for label, c in (("platform", client), ("statistics", other)):
            tokens[label] = (await anonymous.post("/oauth/token", data={
                "grant_type": "client_credentials", "client_id": c["client_id"], "client_secret": c["client_secret"]})).json()["access_token"]
    body = {"device_serial": serial, "kind": "sos", "occurred_at": "2020-06-15T08:58:00+08:00"}
    assert (await api.post("/api/v1/care/alerts", headers=auth(tokens["statistics"]), json=body)).status_code == 403
    unknown = await api.post("/api/v1/care/alerts", headers=auth(tokens["platform"]), json={**body, "device_serial": "NOPE"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_device")
    future = await api.post("/api/v1/care/alerts", headers=auth(tokens["platform"]), json={**body, "occurred_at": "2020-06-15T10:00:00+08:00"})
    assert (future.status_code, future.json()["code"]) == (422, "future_time")
    naive = await api.post("/api/v1/care/alerts", headers=auth(tokens["platform"]), json={**body, "occurred_at": "2020-06-15T08:58:00"})
    assert naive.status_code == 422
    before = (await api.get("/api/v1/care/alerts", params={"town": TOWN, "limit": 500})).json()["items"]

    alert = (await api.post("/api/v1/care/alerts", headers=auth(tokens["platform"]), json=body)).json()
    assert (alert["status"], alert["ack_minutes"], alert["escalated"]) == ("open", 30, False)
    username, worker = await make_staff("care_worker", town=TOWN)
    assigned = await api.post(f"/api/v1/care/alerts/{alert['id']}:assign", headers=auth(caseworker),
                              json={"assignee": token_sub(worker)})
    assert assigned.status_code == 200 and assigned.json()["status"] == "assigned"
    mine = (await api.get("/api/v1/care/my/alerts", headers=auth(worker))).json()["items"]
    assert [a["id"] for a in mine] == [alert["id"]]
    ack = await api.post(f"/api/v1/care/alerts/{alert['id']}:acknowledge", headers=auth(worker))
    assert ack.status_code == 200 and ack.json()["acknowledged_in_time"] is True
    again = await api.post(f"/api/v1/care/alerts/{alert['id']}:acknowledge", headers=auth(worker))
    assert (again.status_code, again.json()["code"]) == (409, "already_acknowledged")
    closed = await api.post(f"/api/v1/care/alerts/{alert['id']}:close", headers=auth(worker),
                            json={"outcome": "resolved_on_site", "note": "已上门处置"})
    assert closed.status_code == 200 and (closed.json()["status"], closed.json()["outcome"]) == ("closed", "resolved_on_site")
    after = (await api.get("/api/v1/care/alerts", params={"town": TOWN, "limit": 500})).json()["items"]
    assert len(after) == len(before) + 1


async def test_visits_on_time_kpi(api: httpx.AsyncClient, world: dict, set_clock) -> None:
    await set_clock("2020-07-02T09:00:00+08:00")
    kpi = (await api.get("/api/v1/care/kpis/visits", params={"year": 2020, "town": TOWN})).json()
    # the child's visit was on time; the 20 dependent elderly persons' first visits lapsed
    assert (kpi["on_time"], kpi["late"], kpi["missed"]) == (1, 0, 20)
    assert kpi["rate"] == "0.0476"
    await set_clock("2020-06-15T09:00:00+08:00")
