"""The R-DB-9 public notice and deadlines through the gateway: objections (公示异议) stop the file
until the town resolves them (dismissed → it continues; upheld → refused with the reason), and the
one-working-day warning ``eligibility.application.deadline_at_risk`` sent by the worker on the
controllable clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.eligibility.conftest import TOWN_A, household, member

E = "/api/v1/eligibility"


@pytest.fixture(autouse=True)
async def back_to_june_2020(set_clock):  # noqa: ANN001
    await set_clock("2020-06-15T09:00:00+08:00")
    yield
    await set_clock("2020-06-15T09:00:00+08:00")


async def _in_notice(clients) -> tuple[str, dict]:  # noqa: ANN001
    """A dibao application accepted on Monday 2020-06-15, in its notice 06-15..06-21."""
    caseworker = clients["caseworker_a"]
    created = (await caseworker.post(f"{E}/households", json=household(members=[member()]))).json()
    application = (await caseworker.post(f"{E}/applications", json={"household_id": created["household_id"], "category": "dibao"})).json()
    url = f"{E}/applications/{application['application_id']}"
    assert (await caseworker.post(f"{url}:start-investigation")).status_code == 200
    assert (await caseworker.post(f"{url}:give-opinion", json={"opinion": "approve"})).status_code == 200
    notice = (await caseworker.post(f"{url}:publish-notice", json={})).json()
    assert (notice["status"], notice["notice_from"], notice["notice_until"]) == ("in_notice", "2020-06-15", "2020-06-21")
    return url, notice


OBJECTION = {"objector": "村民李某", "objector_kind": "villager", "channel": "in_person", "content": "申请人家中有一辆经营用货车"}


async def test_a_dismissed_objection_lets_the_application_continue(clients, set_clock) -> None:  # noqa: ANN001
    caseworker, approver = clients["caseworker_a"], clients["approver_a"]
    url, _ = await _in_notice(clients)
    before = await caseworker.post(f"{url}/objections", json=OBJECTION | {"received_on": "2020-06-14"})
    assert before.status_code == 409 and before.json()["code"] == "outside_notice"
    future = await caseworker.post(f"{url}/objections", json=OBJECTION | {"received_on": "2020-06-16"})
    assert future.status_code == 422 and future.json()["code"] == "future_date"
    assert (await clients["caseworker_b"].post(f"{url}/objections", json=OBJECTION)).status_code == 404
    response = await caseworker.post(f"{url}/objections", json=OBJECTION)
    assert response.status_code == 201, response.text
    objection = response.json()
    assert (objection["status"], objection["received_on"], objection["objector"], objection["content"]) == (
        "open", "2020-06-15", "村民李某", "申请人家中有一辆经营用货车")

    await set_clock("2020-06-22T09:00:00+08:00")  # the notice is over, the objection still open
    blocked = await caseworker.post(f"{url}:submit")
    assert blocked.status_code == 409 and blocked.json()["code"] == "objection_open"
    resolve = f"{url}/objections/{objection['objection_id']}:resolve"
    body = {"outcome": "dismissed", "reason": "经入户核实，货车已于2019年出售"}
    assert (await caseworker.post(resolve, json=body)).status_code == 403  # the town's approver resolves
    assert (await clients["approver_b"].post(resolve, json=body)).status_code == 404
    resolved = await approver.post(resolve, json=body)
    assert resolved.status_code == 200, resolved.text
    application = resolved.json()
    assert application["status"] == "in_notice"
    [trail] = application["objections"]
    assert (trail["status"], trail["resolution_reason"], trail["resolved_by"] is not None) == ("dismissed", body["reason"], True)
    assert [s["step"] for s in application["steps"]][-2:] == ["objection_recorded", "objection_dismissed"]
    again = await approver.post(resolve, json={"outcome": "upheld", "reason": "x"})
    assert again.status_code == 409 and again.json()["code"] == "objection_resolved"
    submitted = await caseworker.post(f"{url}:submit")
    assert submitted.status_code == 200 and submitted.json()["status"] == "with_approver"
    late = await caseworker.post(f"{url}/objections", json=OBJECTION)
    assert late.status_code == 409 and late.json()["code"] == "wrong_step"


async def test_an_upheld_objection_refuses_the_application_with_the_reason(clients) -> None:  # noqa: ANN001
    caseworker, approver = clients["caseworker_a"], clients["approver_a"]
    url, _ = await _in_notice(clients)
    first = (await caseworker.post(f"{url}/objections", json=OBJECTION)).json()
    second = (await caseworker.post(f"{url}/objections", json=OBJECTION | {
        "objector": "anonymous", "objector_kind": "anonymous", "channel": "letter", "content": "申请人子女在外经商"})).json()
    reason = "经核实，申请人名下有经营用货车，家庭财产超过规定"
    refused = await approver.post(f"{url}/objections/{first['objection_id']}:resolve", json={"outcome": "upheld", "reason": reason})
    assert refused.status_code == 200, refused.text
    application = refused.json()
    assert (application["status"], application["refusal_reasons"]) == ("refused", ["objection_upheld", reason])
    assert {o["objection_id"]: o["status"] for o in application["objections"]} == {
        first["objection_id"]: "upheld", second["objection_id"]: "superseded"}
    deadlines = {d["step"]: d for d in application["deadlines"]}
    assert (deadlines["refusal_notice"]["due_date"], deadlines["refusal_notice"]["state"]) == ("2020-06-18", "open")
    assert deadlines["process"]["state"] == "met"
    decision = (await approver.get(f"{E}/decisions/{application['decision_id']}")).json()
    assert (decision["kind"], decision["outcome"], decision["rules"]) == ("refusal", "refused", ["R-DB-9"])
    assert decision["trace"]["reasons"] == ["objection_upheld", reason]
    assert decision["trace"]["inputs"]["objection_id"] == first["objection_id"]
    trail = (await clients["auditor"].get(f"{url}/objections")).json()
    # Both were recorded at the same instant of the stopped clock: their order is not the point.
    assert sorted((o["status"], o["objector_kind"], o["channel"]) for o in trail) == [
        ("superseded", "anonymous", "letter"), ("upheld", "villager", "in_person")]
    assert all(o["recorded_by"] and o["resolved_at"] for o in trail)
    notified = await caseworker.post(f"{url}:notify-refusal")
    assert notified.status_code == 200 and notified.json()["status"] == "refusal_notified"


async def test_one_working_day_left_is_warned_once(clients, set_clock, events) -> None:  # noqa: ANN001
    caseworker = clients["caseworker_a"]
    created = (await caseworker.post(f"{E}/households", json=household(members=[member()]))).json()
    application = (await caseworker.post(f"{E}/applications", json={"household_id": created["household_id"], "category": "dibao"})).json()
    deadlines = {d["step"]: d for d in application["deadlines"]}
    # Investigation start: 3 working days after Monday 15 June (16, 17, 18); warned at 24:00 of the 17th.
    start = deadlines["investigation_start"]
    assert (start["due_date"], datetime.fromisoformat(start["at_risk_at"])) == ("2020-06-18", datetime.fromisoformat("2020-06-18T00:00:00+08:00"))
    # The whole process: 30 working days (25-26 June off, 28 June worked) → 28 July; warned at 24:00 of 27 July.
    assert datetime.fromisoformat(deadlines["process"]["at_risk_at"]) == datetime.fromisoformat("2020-07-28T00:00:00+08:00")
    assert start["at_risk_notified_at"] is None

    await set_clock("2020-06-18T09:00:00+08:00")
    [warning] = await events.wait_for(events.of("eligibility.application.deadline_at_risk", application_id=application["application_id"]), timeout=30)
    data = warning["data"]
    assert (data["step"], data["due_date"], data["town"], data["category"], data["household_id"]) == (
        "investigation_start", "2020-06-18", TOWN_A, "dibao", created["household_id"])
    assert (data["at_risk_at"], data["due_at"]) == ("2020-06-18T00:00:00+08:00", "2020-06-19T00:00:00+08:00")
    assert warning["subject"] == application["application_id"]
    url = f"{E}/applications/{application['application_id']}"
    seen = (await caseworker.get(url)).json()
    notified = {d["step"]: d["at_risk_notified_at"] for d in seen["deadlines"]}
    assert datetime.fromisoformat(notified["investigation_start"]) == datetime.fromisoformat("2020-06-18T09:00:00+08:00")
    assert notified["process"] is None
    # Done in time: no breach follows; the warning stays the only one of the step.
    assert (await caseworker.post(f"{url}:start-investigation")).status_code == 200
    await set_clock("2020-06-19T09:00:00+08:00")
    assert (await caseworker.get(url)).json()["deadlines"][0]["state"] == "met"
    warnings = [e for e in events.events if e["type"] == "eligibility.application.deadline_at_risk"
                and e["data"]["application_id"] == application["application_id"]]
    assert len(warnings) == 1
