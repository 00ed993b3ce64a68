"""Need to know (ARCHITECTURE.md, Security), the records that carry no village of their own: a
village officer sees the volunteers, reassessments, waiting list, placements, care contracts,
pilot enrolments, devices and alerts of its own village's persons only — another village's record
is 404, as another town's is — while the town's caseworker still sees both villages'. A
volunteer (a town-level person) is seen by a village officer when paired with a visit plan of its
village."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.care.conftest import Registry, auth, every

TOWN = "350505100"  # 南埔镇
OWN, OTHER = "350505100001", "350505100003"
OTHER_TOWN = "350505101"
C = "/api/v1/care"
PARTIAL = ["bathing"]


async def _ok(response: httpx.Response, status: int = 201) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def _assessed_and_waiting(api: httpx.AsyncClient, caseworker: str, person: dict) -> dict:
    """Assessed (partial loss: an ordinary bed), willing, on the waiting list; the request."""
    pid = person["id"]
    await _ok(await api.post(f"{C}/persons/{pid}/assessments", headers=auth(caseworker),
                             json={"not_achieved": PARTIAL, "assessed_on": "2020-03-01", "assessor": "评估员"}))
    await _ok(await api.put(f"{C}/persons/{pid}/willingness", headers=auth(caseworker), json={"willing": True}), 200)
    return await _ok(await api.post(f"{C}/persons/{pid}/placement-requests", headers=auth(caseworker), json={}))


async def _platform_token(api: httpx.AsyncClient) -> str:
    client = await _ok(await api.post("/api/v1/admin/clients", json={
        "name": f"云守护平台{uuid.uuid4().hex[:4]}", "scopes": ["device_platform"]}))
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        response = await anonymous.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": client["client_secret"]})
    return response.json()["access_token"]


@pytest.fixture(scope="module")
async def villages(api: httpx.AsyncClient, set_clock, registry: Registry, make_staff) -> dict:
    """For each of two villages of the town: a tekun person placed in a care home, and one
    waiting with an open reassessment, a care contract, a pilot enrolment, a device with an
    alert and a visit plan paired with the village's own volunteer; plus a volunteer of the town
    paired with nobody."""
    await set_clock("2020-06-15T09:00:00+08:00")
    _, caseworker = await make_staff("town_caseworker", town=TOWN)
    _, officer = await make_staff("village_officer", town=TOWN, village=OWN)
    # beds enough for the two persons placed (they may also go to another active home)
    home = await _ok(await api.post(f"{C}/homes", json={
        "name": f"南埔镇测试幸福院{uuid.uuid4().hex[:4]}", "kind": "rural_happiness_home", "town": TOWN, "beds": 2,
        "nursing_beds": 0}))
    made: dict = {"caseworker": caseworker, "officer": officer, "own": {}, "other": {}}
    for key, village in (("own", OWN), ("other", OTHER)):
        placed = await registry.tekun_person(town=TOWN, village=village, name="集中供养老人")
        await _assessed_and_waiting(api, caseworker, placed)
        made[key]["placed"] = placed["id"]
    allocation = await _ok(await api.post(f"{C}/placements:allocate", json={"town": TOWN}), 200)
    placements = {p["person_id"]: p["id"] for p in allocation["placements"]}
    for key in ("own", "other"):
        made[key]["placement"] = placements[made[key]["placed"]]

    programmes = {p["code"]: p for p in (await api.get(f"{C}/programmes", params={"limit": 500})).json()["items"]}
    made["programme"] = programmes["severe-disability-care"]["id"]
    platform = await _platform_token(api)
    for key, village in (("own", OWN), ("other", OTHER)):
        person = await registry.tekun_person(town=TOWN, village=village, name="分散供养老人", disability_grade=1,
                                             disability_kind="physical")
        pid = person["id"]
        made[key]["person"] = pid
        made[key]["request"] = (await _assessed_and_waiting(api, caseworker, person))["id"]
        made[key]["reassessment"] = (await _ok(await api.post(
            f"{C}/persons/{pid}/ability-changes", headers=auth(caseworker), json={"description": "跌倒后卧床"})))["id"]
        made[key]["contract"] = (await _ok(await api.post(f"{C}/care-contracts", headers=auth(caseworker), json={
            "person_id": pid, "institution": "南埔镇颐养服务中心", "starts_on": "2020-05-01"})))["id"]
        made[key]["enrolment"] = (await _ok(await api.post(
            f"{C}/programmes/{made['programme']}/enrolments", headers=auth(caseworker),
            json={"person_id": pid, "enrolled_on": "2020-05-01"})))["id"]
        serial = f"SOS-{uuid.uuid4().hex[:8]}"
        made[key]["device"] = (await _ok(await api.post(f"{C}/devices", headers=auth(caseworker), json={
            "serial": serial, "kind": "sos_button", "person_id": pid})))["id"]
        made[key]["alert"] = (await _ok(await api.post(f"{C}/alerts", headers=auth(platform), json={
            "device_serial": serial, "kind": "sos", "occurred_at": "2020-06-15T08:58:00+08:00"})))["id"]
        volunteer = await _ok(await api.post(f"{C}/volunteers", headers=auth(caseworker), json={
            "sub": f"vol-{uuid.uuid4().hex[:10]}", "name": "志愿者", "town": TOWN, "team": "南埔镇505志愿守护队"}))
        made[key]["volunteer"] = volunteer["id"]
        await _ok(await api.post(f"{C}/visit-plans", headers=auth(caseworker), json={
            "person_id": pid, "category": "dependent_elderly", "volunteer_id": volunteer["id"], "starts_on": "2020-06-01"}))
    made["unpaired"] = (await _ok(await api.post(f"{C}/volunteers", headers=auth(caseworker), json={
        "sub": f"vol-{uuid.uuid4().hex[:10]}", "name": "未结对志愿者", "town": TOWN})))["id"]
    yield made
    await api.patch(f"{C}/homes/{home['id']}", json={"active": False})


# (list path, the field naming the record, the key of the record in ``villages``)
LISTS = [
    ("/reassessments", "id", "reassessment"),
    ("/waiting-list", "request_id", "request"),
    ("/placements", "id", "placement"),
    ("/care-contracts", "id", "contract"),
    ("/programmes/{programme}/enrolments", "id", "enrolment"),
    ("/devices", "id", "device"),
    ("/alerts", "id", "alert"),
]


@pytest.mark.parametrize(("path", "field", "key"), LISTS)
async def test_a_village_officer_lists_its_own_villages_persons_records_only(
    api: httpx.AsyncClient, villages: dict, path: str, field: str, key: str
) -> None:
    path = path.format(programme=villages["programme"])
    mine = await every(api, villages["officer"], path)
    seen = {row[field] for row in mine}
    assert villages["own"][key] in seen and villages["other"][key] not in seen
    # every row is about a person of the officer's village (whoever else made records in the town)
    persons = {p["id"]: p["village"] for p in await every(api, villages["caseworker"], "/persons")}
    assert {persons[row["person_id"]] for row in mine} == {OWN}
    town = {row[field] for row in await every(api, villages["caseworker"], path)}
    assert {villages["own"][key], villages["other"][key]} <= town


async def test_the_waiting_list_keeps_the_district_wide_positions(api: httpx.AsyncClient, villages: dict) -> None:
    mine = {w["request_id"]: w["position"] for w in await every(api, villages["officer"], "/waiting-list")}
    town = {w["request_id"]: w["position"] for w in await every(api, villages["caseworker"], "/waiting-list")}
    own = villages["own"]["request"]
    assert mine[own] is not None and mine[own] == town[own]


async def test_a_village_officer_sees_the_volunteers_paired_in_its_village(api: httpx.AsyncClient, villages: dict) -> None:
    mine = {v["id"] for v in await every(api, villages["officer"], "/volunteers")}
    assert villages["own"]["volunteer"] in mine
    assert villages["other"]["volunteer"] not in mine and villages["unpaired"] not in mine
    town = {v["id"] for v in await every(api, villages["caseworker"], "/volunteers")}
    assert {villages["own"]["volunteer"], villages["other"]["volunteer"], villages["unpaired"]} <= town


async def test_a_village_officer_asking_for_another_town_gets_404(api: httpx.AsyncClient, villages: dict) -> None:
    for path, _, _ in [*LISTS, ("/volunteers", "id", "")]:
        response = await api.get(C + path.format(programme=villages["programme"]), headers=auth(villages["officer"]),
                                 params={"town": OTHER_TOWN})
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), path


READS = ["/volunteers/{volunteer}", "/care-contracts/{contract}", "/enrolments/{enrolment}/services",
         "/alerts/{alert}", "/persons/{person}/assessments"]


@pytest.mark.parametrize("path", READS)
async def test_another_villages_record_is_404_to_a_village_officer(api: httpx.AsyncClient, villages: dict, path: str) -> None:
    other = await api.get(C + path.format(**villages["other"]), headers=auth(villages["officer"]))
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    own = await api.get(C + path.format(**villages["own"]), headers=auth(villages["officer"]))
    assert own.status_code == 200, own.text
    # the town's caseworker still sees the other village's record
    assert (await api.get(C + path.format(**villages["other"]), headers=auth(villages["caseworker"]))).status_code == 200


async def test_an_unpaired_volunteer_is_404_to_a_village_officer(api: httpx.AsyncClient, villages: dict) -> None:
    unpaired = await api.get(f"{C}/volunteers/{villages['unpaired']}", headers=auth(villages["officer"]))
    assert (unpaired.status_code, unpaired.json()["code"]) == (404, "not_found")
    assert (await api.get(f"{C}/volunteers/{villages['unpaired']}", headers=auth(villages["caseworker"]))).status_code == 200


async def test_a_village_officer_may_not_write(api: httpx.AsyncClient, villages: dict) -> None:
    """Recording care work is for town and district staff (WRITE_ROLES): a village officer is
    refused even for its own village's records, which stay unchanged."""
    own = villages["own"]
    for path, body in [
        (f"/placement-requests/{own['request']}:withdraw", {"reason": "other"}),
        (f"/care-contracts/{own['contract']}:end", {"ends_on": "2020-06-15"}),
        (f"/alerts/{own['alert']}:close", {"outcome": "false_alarm"}),
    ]:
        response = await api.post(C + path, headers=auth(villages["officer"]), json=body)
        assert response.status_code == 403, (path, response.text)
    waiting = {w["request_id"] for w in await every(api, villages["caseworker"], "/waiting-list")}
    assert own["request"] in waiting
    alert = (await api.get(f"{C}/alerts/{own['alert']}", headers=auth(villages["caseworker"]))).json()
    assert alert["status"] == "open"
