"""Placement through the gateway (R-TK-3): homes and beds, willingness, the waiting list in
priority order, allocation with fewer beds than candidates, the centralized rate."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.care.conftest import CareEvents, Registry

TOWN = "350505105"  # 前黄镇
FULL = ["eating", "dressing", "bed_transfer", "toileting"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def world(api: httpx.AsyncClient, set_clock, registry: Registry, make_staff):
    """Only one home of our own is active: 1 nursing bed and 1 ordinary bed; six tekun persons."""
    await set_clock("2020-06-15T09:00:00+08:00")
    homes = (await api.get("/api/v1/care/homes", params={"limit": 500})).json()["items"]
    seeded = [h for h in homes if h["active"]]
    for home in seeded:
        assert (await api.patch(f"/api/v1/care/homes/{home['id']}", json={"active": False})).status_code == 200
    created = await api.post("/api/v1/care/homes", json={
        "name": f"前黄镇测试敬老院{uuid.uuid4().hex[:4]}", "kind": "nursing_home", "town": TOWN, "beds": 2, "nursing_beds": 1})
    assert created.status_code == 201, created.text
    _, caseworker = await make_staff("town_caseworker", town=TOWN)
    persons = {}
    for label, not_achieved, assessed_on in [
        ("full_late", FULL, "2020-05-01"), ("full_early", FULL, "2020-02-01"), ("partial", ["bathing"], "2020-01-15"),
        ("self", [], "2020-01-10"), ("unwilling", FULL, "2020-01-01"),
    ]:
        person = await registry.tekun_person(town=TOWN)
        response = await api.post(f"/api/v1/care/persons/{person['id']}/assessments",
                                  json={"not_achieved": not_achieved, "assessed_on": assessed_on, "assessor": "评估员"},
                                  headers=auth(caseworker))
        assert response.status_code == 201, response.text
        willing = label != "unwilling"
        response = await api.put(f"/api/v1/care/persons/{person['id']}/willingness", json={"willing": willing},
                                 headers=auth(caseworker))
        assert response.status_code == 200 and response.json()["willing_centralized"] is willing
        persons[label] = person
    yield {"home": created.json(), "persons": persons, "caseworker": caseworker}
    for home in seeded:
        await api.patch(f"/api/v1/care/homes/{home['id']}", json={"active": True})
    await api.patch(f"/api/v1/care/homes/{created.json()['id']}", json={"active": False})


async def test_fewer_beds_than_candidates_follow_the_priority(
    api: httpx.AsyncClient, world: dict, care_events: CareEvents
) -> None:
    persons, caseworker = world["persons"], world["caseworker"]
    for label in ("self", "partial", "full_late", "full_early"):
        response = await api.post(f"/api/v1/care/persons/{persons[label]['id']}/placement-requests", json={},
                                  headers=auth(caseworker))
        assert response.status_code == 201, response.text
    unwilling = await api.post(f"/api/v1/care/persons/{persons['unwilling']['id']}/placement-requests", json={})
    assert (unwilling.status_code, unwilling.json()["code"]) == (409, "not_willing")
    again = await api.post(f"/api/v1/care/persons/{persons['self']['id']}/placement-requests", json={})
    assert (again.status_code, again.json()["code"]) == (409, "already_waiting")

    ids = {p["id"]: label for label, p in persons.items()}
    waiting = (await api.get("/api/v1/care/waiting-list", params={"town": TOWN})).json()["items"]
    assert [(ids[w["person_id"]], w["position"] is not None) for w in waiting] == [
        ("full_early", True), ("full_late", True), ("partial", True), ("self", True)]
    positions = [w["position"] for w in waiting]
    assert positions == sorted(positions)

    forbidden = await api.post("/api/v1/care/placements:allocate", json={}, headers=auth(caseworker))
    assert forbidden.status_code == 403
    response = await api.post("/api/v1/care/placements:allocate", json={"town": TOWN})
    assert response.status_code == 200, response.text
    result = response.json()
    placed = {ids[p["person_id"]]: p["bed_type"] for p in result["placements"]}
    # one nursing bed: the full-loss person assessed first; the ordinary bed: the partial-loss one
    assert placed == {"full_early": "nursing", "partial": "ordinary"}
    assert [(ids[w["person_id"]], w["position"]) for w in result["waiting"]] == [("full_late", 1), ("self", 2)]
    home = (await api.get(f"/api/v1/care/homes/{world['home']['id']}")).json()
    assert (home["free_nursing"], home["free_ordinary"], home["occupied_nursing"]) == (0, 0, 1)
    events = await care_events.wait("care.placement.made", lambda e: e["data"]["home_id"] == world["home"]["id"], count=2)
    assert {(e["data"]["person_id"], e["data"]["bed_type"]) for e in events} == {
        (persons["full_early"]["member"]["person_id"], "nursing"), (persons["partial"]["member"]["person_id"], "ordinary")}

    # the centralized rate of the town: 1 of the 3 full-loss tekun persons
    rate = (await api.get("/api/v1/care/kpis/centralized-rate", params={"town": TOWN})).json()
    [town_rate] = rate["towns"]
    assert (town_rate["full_loss"], town_rate["centralized"], town_rate["rate"], town_rate["met"]) == (3, 1, "0.3333", False)
    assert rate["target"] == "0.5" and rate["district"] is None
    assert rate["trace"]["parameters"][0]["key"] == "centralized_rate_target"

    # a bed freed goes to the next in priority
    placement = next(p for p in result["placements"] if ids[p["person_id"]] == "full_early")
    bad_end = await api.post(f"/api/v1/care/placements/{placement['id']}:end", json={"ended_on": "2020-06-16", "reason": "other"})
    assert (bad_end.status_code, bad_end.json()["code"]) == (422, "future_date")
    ended = await api.post(f"/api/v1/care/placements/{placement['id']}:end", json={"ended_on": "2020-06-15", "reason": "transferred"})
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    second = (await api.post("/api/v1/care/placements:allocate", json={"town": TOWN})).json()
    assert [(ids[p["person_id"]], p["bed_type"]) for p in second["placements"]] == [("full_late", "nursing")]
    kpis = (await api.get("/api/v1/care/kpis", params={"year": 2020, "town": TOWN})).json()
    assert kpis["as_of"] == "2020-06-15"
    assert (kpis["centralized_rate"]["towns"][0]["centralized"], kpis["centralized_rate"]["towns"][0]["rate"]) == (1, "0.3333")


async def test_allocation_calculator(api: httpx.AsyncClient) -> None:
    body = {
        "candidates": [
            {"ref": "a", "level": "partial_loss", "willing": True, "town": TOWN, "assessed_on": "2020-01-01", "requested_on": "2020-02-01"},
            {"ref": "b", "level": "full_loss", "willing": True, "town": TOWN, "assessed_on": "2020-03-01", "requested_on": "2020-03-02"},
            {"ref": "c", "level": "full_loss", "willing": False, "town": TOWN, "assessed_on": "2019-03-01", "requested_on": "2019-03-02"},
            {"ref": "d", "level": "full_loss", "willing": True, "town": TOWN, "assessed_on": "2020-04-01", "requested_on": "2020-01-02"},
        ],
        "homes": [{"ref": "h1", "town": TOWN, "free_nursing": 1, "free_ordinary": 0}],
    }
    response = await api.post("/api/v1/care/allocation:evaluate", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["assignments"] == [{"ref": "b", "home": "h1", "bed_type": "nursing", "priority": 1}]
    assert [(w["ref"], w["position"]) for w in result["waiting"]] == [("d", 1), ("a", 2)]
    assert result["excluded"] == [{"ref": "c", "reason": "not_willing"}]
    assert result["trace"]["rule"] == "R-TK-3"
    duplicate = await api.post("/api/v1/care/allocation:evaluate", json={**body, "homes": body["homes"] * 2})
    assert (duplicate.status_code, duplicate.json()["code"]) == (422, "duplicate_ref")


async def test_bad_homes_are_refused_and_nothing_is_stored(api: httpx.AsyncClient, world: dict) -> None:
    before = len((await api.get("/api/v1/care/homes", params={"limit": 500})).json()["items"])
    name = f"坏数据敬老院{uuid.uuid4().hex[:4]}"
    for body, code in [
        ({"name": name, "kind": "nursing_home", "town": TOWN, "beds": 2, "nursing_beds": 3}, "nursing_beds_exceed_beds"),
        ({"name": name, "kind": "nursing_home", "town": "350505999", "beds": 2, "nursing_beds": 1}, "unknown_town"),
        ({"name": name, "kind": "nursing_home", "town": TOWN, "village": "350505100001", "beds": 2, "nursing_beds": 1},
         "village_not_in_town"),
        ({"name": name, "kind": "castle", "town": TOWN, "beds": 2, "nursing_beds": 1}, "literal_error"),
    ]:
        response = await api.post("/api/v1/care/homes", json=body)
        assert (response.status_code, response.json()["code"]) == (422, code), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert len((await api.get("/api/v1/care/homes", params={"limit": 500})).json()["items"]) == before
    shrink = await api.patch(f"/api/v1/care/homes/{world['home']['id']}", json={"nursing_beds": 0})
    assert (shrink.status_code, shrink.json()["code"]) == (409, "beds_occupied")
    town_staff = await api.post("/api/v1/care/homes", json={"name": name, "kind": "nursing_home", "town": TOWN, "beds": 1,
                                                            "nursing_beds": 0}, headers=auth(world["caseworker"]))
    assert town_staff.status_code == 403


async def test_the_five_rural_happiness_homes_are_seeded(api: httpx.AsyncClient) -> None:
    first = (await api.get("/api/v1/care/homes", params={"limit": 3})).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = (await api.get("/api/v1/care/homes", params={"limit": 500, "cursor": first["next_cursor"]})).json()
    homes = first["items"] + rest["items"]
    assert len({h["id"] for h in homes}) == len(homes)
    rural = [h for h in homes if h["kind"] == "rural_happiness_home"]
    assert len(rural) == 5
    assert all(h["nursing_beds"] > 0 and h["beds"] > h["nursing_beds"] for h in rural)
