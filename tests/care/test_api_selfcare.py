"""Self-care through the gateway (R-TK-2, R-TK-1): the acceptance cases, assessments of tekun
persons projected from eligibility's events, reassessment deadlines, town scoping, parameters."""

from __future__ import annotations

import httpx
import pytest

from tests.care.conftest import CareEvents, Registry, wait_for
from tests.conftest import load_cases

TOWN = "350505102"  # 后龙镇
OTHER_TOWN = "350505105"
EVALUATE = "/api/v1/care/self-care:evaluate"


@pytest.mark.parametrize("case", load_cases("self-care.json"), ids=lambda c: ",".join(c["not_achieved"]) or "none")
async def test_acceptance_cases(api: httpx.AsyncClient, case: dict) -> None:
    response = await api.post(EVALUATE, json={"not_achieved": case["not_achieved"]})
    if "error" in case:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == case["error"]
    else:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["level"] == case["level"]
        assert body["not_achieved_count"] == len(case["not_achieved"])
        assert body["trace"]["rule"] == case["rule"]


async def test_calculator_refuses_bad_input(api: httpx.AsyncClient, gateway_url: str) -> None:
    duplicate = await api.post(EVALUATE, json={"not_achieved": ["bathing", "bathing"]})
    assert (duplicate.status_code, duplicate.json()["code"]) == (422, "duplicate_item")
    not_a_list = await api.post(EVALUATE, json={"not_achieved": "bathing"})
    assert not_a_list.status_code == 422
    extra = await api.post(EVALUATE, json={"not_achieved": [], "level": "self_care"})
    assert extra.status_code == 422
    async with httpx.AsyncClient(base_url=gateway_url) as anonymous:
        assert (await anonymous.post(EVALUATE, json={"not_achieved": []})).status_code == 401


@pytest.fixture(scope="module")
async def setup(set_clock, registry: Registry, make_staff) -> dict:
    await set_clock("2020-06-15T09:00:00+08:00")
    person = await registry.tekun_person(town=TOWN, village="350505102001")
    not_tekun = await registry.registry_person(town=TOWN)  # in the registry, not tekun
    _, caseworker = await make_staff("town_caseworker", town=TOWN)
    _, stranger = await make_staff("town_caseworker", town=OTHER_TOWN)
    return {"person": person, "not_tekun": not_tekun, "caseworker": caseworker, "stranger": stranger}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_assessment_of_a_tekun_person_sets_the_level_and_emits_the_event(
    api: httpx.AsyncClient, setup: dict, care_events: CareEvents
) -> None:
    person = setup["person"]
    path = f"/api/v1/care/persons/{person['id']}/assessments"
    body = {"not_achieved": ["bathing", "dressing", "walking_indoors", "toileting"], "assessed_on": "2020-06-12",
            "assessor": "区评估小组 王医生"}
    response = await api.post(path, json=body, headers=auth(setup["caseworker"]))
    assert response.status_code == 201, response.text
    assessment = response.json()
    assert assessment["level"] == "full_loss"
    assert assessment["reason"] == "initial" and assessment["previous_level"] is None
    assert assessment["not_achieved"] == ["dressing", "toileting", "walking_indoors", "bathing"]

    record = (await api.get(f"/api/v1/care/persons/{person['id']}")).json()
    assert (record["self_care_level"], record["level_assessed_on"]) == ("full_loss", "2020-06-12")
    assert record["id_number"] == person["member"]["id_number"]

    [event] = await care_events.wait("care.selfcare.assessed", lambda e: e["subject"] == assessment["id"])
    assert event["data"]["person_id"] == person["member"]["person_id"]
    assert event["data"]["household_id"] == person["household_id"]
    assert (event["data"]["level"], event["data"]["assessed_on"], event["data"]["rule"]) == ("full_loss", "2020-06-12", "R-TK-2")


async def test_bad_assessments_are_refused_and_nothing_is_stored(api: httpx.AsyncClient, setup: dict) -> None:
    person = setup["person"]
    path = f"/api/v1/care/persons/{person['id']}/assessments"
    before = (await api.get(path)).json()
    cases = [
        ({"not_achieved": ["flying"], "assessed_on": "2020-06-13", "assessor": "x"}, 422, "unknown_item"),
        ({"not_achieved": [], "assessed_on": "2020-06-16", "assessor": "x"}, 422, "future_date"),
        ({"not_achieved": [], "assessed_on": "2020-06-01", "assessor": "x"}, 409, "assessment_out_of_order"),
        ({"not_achieved": [], "assessed_on": "2020-06-13"}, 422, "missing"),
    ]
    for body, status, code in cases:
        response = await api.post(path, json=body)
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
    not_tekun = await api.post(f"/api/v1/care/persons/{setup['not_tekun']['id']}/assessments",
                               json={"not_achieved": [], "assessed_on": "2020-06-13", "assessor": "x"})
    assert (not_tekun.status_code, not_tekun.json()["code"]) == (409, "not_tekun")
    assert (await api.get(path)).json() == before


async def test_town_scoping(api: httpx.AsyncClient, setup: dict) -> None:
    person_path = f"/api/v1/care/persons/{setup['person']['id']}"
    assert (await api.get(person_path, headers=auth(setup["caseworker"]))).status_code == 200
    hidden = await api.get(person_path, headers=auth(setup["stranger"]))
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    write = await api.post(f"{person_path}/assessments", headers=auth(setup["stranger"]),
                           json={"not_achieved": [], "assessed_on": "2020-06-13", "assessor": "x"})
    assert write.status_code == 404
    listed = (await api.get("/api/v1/care/persons", headers=auth(setup["stranger"]), params={"limit": 500})).json()
    assert all(p["town"] == OTHER_TOWN for p in listed["items"])
    other = await api.get("/api/v1/care/persons", headers=auth(setup["stranger"]), params={"town": TOWN})
    assert other.status_code == 404
    # reads of personal data are audited
    audit = (await api.get("/api/v1/care/audit", params={"person_id": setup["person"]["id"]})).json()["items"]
    assert any(a["action"] == "person.read" for a in audit)


async def test_a_reported_change_is_reassessed_within_ten_working_days(
    api: httpx.AsyncClient, setup: dict, set_clock, care_events: CareEvents
) -> None:
    person = setup["person"]
    path = f"/api/v1/care/persons/{person['id']}/ability-changes"
    response = await api.post(path, json={"description": "跌倒后卧床"}, headers=auth(setup["caseworker"]))
    assert response.status_code == 201, response.text
    request = response.json()
    # reported Monday 2020-06-15; the Dragon Boat holiday (25-26 June, 28 June worked) is counted
    assert (request["due_on"], request["deadline_at"]) == ("2020-06-30", "2020-07-01T00:00:00+08:00")
    assert (request["working_days"], request["provisional"], request["status"]) == (10, False, "open")
    again = await api.post(path, json={})
    assert (again.status_code, again.json()["id"]) == (200, request["id"])

    await set_clock("2020-07-01T08:00:00+08:00")
    [event] = await care_events.wait("care.reassessment.overdue", lambda e: e["subject"] == request["id"])
    assert event["data"]["due_on"] == "2020-06-30"
    overdue = (await api.get("/api/v1/care/reassessments", params={"status": "overdue", "town": TOWN})).json()["items"]
    assert [r["id"] for r in overdue] == [request["id"]]

    late = await api.post(f"/api/v1/care/persons/{person['id']}/assessments",
                          json={"not_achieved": ["bathing"], "assessed_on": "2020-07-01", "assessor": "王医生"})
    assert late.status_code == 201
    assert (late.json()["reason"], late.json()["previous_level"], late.json()["level"]) == (
        "reassessment", "full_loss", "partial_loss")
    done = (await api.get("/api/v1/care/reassessments", params={"status": "done", "town": TOWN})).json()["items"]
    assert [(r["id"], r["assessment_id"]) for r in done] == [(request["id"], late.json()["id"])]
    # fired once, whatever the sweeps since
    assert len([e for e in await care_events.of_type("care.reassessment.overdue") if e["subject"] == request["id"]]) == 1
    await set_clock("2020-06-15T09:00:00+08:00")


async def test_parameters_are_versioned_and_only_the_district_admin_changes_them(
    api: httpx.AsyncClient, setup: dict
) -> None:
    current = {p["key"]: p for p in (await api.get("/api/v1/care/parameters", headers=auth(setup["caseworker"]))).json()}
    assert current["alert_ack_minutes"]["value"] == "30"
    assert current["reassessment_working_days"]["value"] == "10"
    assert current["centralized_rate_target"]["value"] == "0.5"
    key = "visit_interval_days.left_behind_woman"
    path = f"/api/v1/care/parameters/{key}/versions"
    forbidden = await api.post(path, json={"value": "45", "valid_from": "2030-01-01"}, headers=auth(setup["caseworker"]))
    assert forbidden.status_code == 403
    invalid = await api.post(path, json={"value": "4.5", "valid_from": "2030-01-01"})
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_value")
    created = await api.post(path, json={"value": "45", "valid_from": "2030-01-01", "note": "test"})
    assert created.status_code == 201, created.text
    conflict = await api.post(path, json={"value": "50", "valid_from": "2029-06-01"})
    assert (conflict.status_code, conflict.json()["code"]) == (409, "version_conflict")
    history = (await api.get(f"/api/v1/care/parameters/{key}")).json()
    assert [(v["value"], v["valid_from"], v["valid_to"]) for v in history] == [
        ("60", "2000-01-01", "2029-12-31"), ("45", "2030-01-01", None)]
    in_2030 = {p["key"]: p["value"] for p in (await api.get("/api/v1/care/parameters", params={"on": "2030-02-01"})).json()}
    assert in_2030[key] == "45"


async def test_wait_helper_is_bounded() -> None:
    async def never() -> None:
        return None

    with pytest.raises(AssertionError):
        await wait_for(never, timeout=0.3)
