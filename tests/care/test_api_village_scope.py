"""Need to know (ARCHITECTURE.md, Security): a village officer sees its own village's persons,
left-behind entries, visit plans and referrals only — another village's record is 404, as another
town's is — while the town's caseworker still sees every village of the town."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from tests.care.conftest import auth, every, new_id_number, token_sub

TOWN = "350505103"  # 峰尾镇
OWN, OTHER = "350505103001", "350505103002"
C = "/api/v1/care"


async def _created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
async def villages(api: httpx.AsyncClient, set_clock, make_staff) -> dict:
    await set_clock("2020-06-15T09:00:00+08:00")
    _, caseworker = await make_staff("town_caseworker", town=TOWN)
    _, officer = await make_staff("village_officer", town=TOWN, village=OWN)
    _, visitor = await make_staff("volunteer", town=TOWN)
    volunteer = await _created(await api.post(f"{C}/volunteers", headers=auth(caseworker), json={
        "sub": token_sub(visitor), "name": "志愿者", "town": TOWN, "team": "峰尾镇505志愿守护队"}))
    made: dict = {"caseworker": caseworker, "officer": officer}
    for key, village in (("own", OWN), ("other", OTHER)):
        child = await _created(await api.post(f"{C}/persons", headers=auth(caseworker), json={
            "name": "留守儿童", "id_number": new_id_number(date(2012, 3, 1)), "town": TOWN, "village": village}))
        entry = await _created(await api.post(f"{C}/left-behind", headers=auth(caseworker), json={
            "person_id": child["id"], "category": "child", "entered_on": "2020-06-01",
            "facts": {"parents": "both_away", "absence_months": 8, "guardian": "grandparent"}}))
        plan = await _created(await api.post(f"{C}/visit-plans", headers=auth(caseworker), json={
            "person_id": child["id"], "category": "left_behind_child", "volunteer_id": volunteer["id"],
            "starts_on": "2020-06-01"}))
        await _created(await api.post(f"{C}/visit-plans/{plan['id']}/visits", headers=auth(caseworker), json={
            "visited_on": "2020-06-10", "method": "home_visit", "findings": "祖母住院",
            "referral": {"to": "relief", "reason": "emergency_hardship"}}))
        made[key] = {"person": child["id"], "entry": entry["id"], "plan": plan["id"]}
    return made


LISTS = [("/persons", "id", "person"), ("/left-behind", "id", "entry"), ("/visit-plans", "id", "plan"),
         ("/referrals", "person_id", "person")]


@pytest.mark.parametrize(("path", "field", "key"), LISTS)
async def test_a_village_officer_lists_its_own_village_only(api: httpx.AsyncClient, villages: dict, path: str, field: str, key: str) -> None:
    mine = await every(api, villages["officer"], path)
    seen = {row[field] for row in mine}
    assert villages["own"][key] in seen and villages["other"][key] not in seen
    if path != "/referrals":  # referrals carry no village
        assert {row["village"] for row in mine} == {OWN}
    town = {row[field] for row in await every(api, villages["caseworker"], path)}
    assert {villages["own"][key], villages["other"][key]} <= town


@pytest.mark.parametrize("path", ["/persons/{person}", "/left-behind/{entry}", "/visit-plans/{plan}", "/visit-plans/{plan}/visits"])
async def test_another_villages_record_is_404_to_a_village_officer(api: httpx.AsyncClient, villages: dict, path: str) -> None:
    other = await api.get(C + path.format(**villages["other"]), headers=auth(villages["officer"]))
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    assert (await api.get(C + path.format(**villages["own"]), headers=auth(villages["officer"]))).status_code == 200
    # the town's caseworker still sees the other village's record
    assert (await api.get(C + path.format(**villages["other"]), headers=auth(villages["caseworker"]))).status_code == 200
