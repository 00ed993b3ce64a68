"""Need to know (ARCHITECTURE.md, Security): a village officer sees its own village only, village
officers and care workers get the reduced view (masked ID numbers, no bank accounts, no yuan
figures), applications filter by town, and a department's batch receipt does not tell whether a
person is in the assistance registry."""

from __future__ import annotations

import httpx
import pytest

from shared.ids import mask_id_number
from tests.eligibility.conftest import TOWN_A, TOWN_B, VILLAGE_A, _make_user, household, member, new_id_number

E = "/api/v1/eligibility"
OTHER_VILLAGE = "350505100002"  # a village of TOWN_A other than VILLAGE_A
FINANCES = {"incomes", "expenditures", "assets", "irregular_income"}


@pytest.fixture(scope="module")
async def staff(api, gateway_url):  # noqa: ANN001
    made = {}
    for who, role, village in (("officer", "village_officer", VILLAGE_A), ("care", "care_worker", None)):
        token = await _make_user(api, gateway_url, role, TOWN_A, village)
        made[who] = httpx.AsyncClient(base_url=gateway_url, timeout=60, headers={"Authorization": f"Bearer {token}"})
    yield made
    for client in made.values():
        await client.aclose()


@pytest.fixture(scope="module")
async def two_villages(clients, set_clock) -> dict[str, dict]:  # noqa: ANN001
    await set_clock("2020-06-15T09:00:00+08:00")
    made = {}
    for key, village in (("own", VILLAGE_A), ("other", OTHER_VILLAGE)):
        body = household(village=village, members=[member(bank_account="6217000012345678"), member("spouse", sex="female")],
                         incomes=[{"source": "wages", "amount": "6000.00"}], assets=[{"kind": "deposit", "value": "3000.00"}])
        response = await clients["caseworker_a"].post(f"{E}/households", json=body)
        assert response.status_code == 201, response.text
        made[key] = response.json()
    return made


async def test_a_village_officer_lists_its_own_village_only(staff, two_villages) -> None:
    seen, cursor = [], None
    while True:
        page = (await staff["officer"].get(f"{E}/households", params={"limit": 500} | ({"cursor": cursor} if cursor else {}))).json()
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert {h["village"] for h in seen} == {VILLAGE_A}
    ids = {h["household_id"] for h in seen}
    assert two_villages["own"]["household_id"] in ids and two_villages["other"]["household_id"] not in ids
    other = await staff["officer"].get(f"{E}/households", params={"village": OTHER_VILLAGE})
    assert other.status_code == 200 and other.json()["items"] == []


async def test_another_villages_household_and_person_are_404_to_a_village_officer(staff, two_villages) -> None:
    other = two_villages["other"]
    assert (await staff["officer"].get(f"{E}/households/{other['household_id']}")).status_code == 404
    assert (await staff["officer"].get(f"{E}/persons/{other['members'][0]['person_id']}")).status_code == 404
    lookup = await staff["officer"].get(f"{E}/persons", params={"id_number": other["members"][0]["id_number"]})
    assert lookup.json()["items"] == []
    # the care worker of the town still sees both villages
    assert (await staff["care"].get(f"{E}/households/{other['household_id']}")).status_code == 200


@pytest.mark.parametrize("who", ["officer", "care"])
async def test_village_officers_and_care_workers_get_the_reduced_view(staff, two_villages, who) -> None:
    own = two_villages["own"]
    body = (await staff[who].get(f"{E}/households/{own['household_id']}")).json()
    assert not FINANCES & body.keys() and body["household_id"] == own["household_id"]
    numbers = [m["id_number"] for m in own["members"]]
    assert [m["id_number"] for m in body["members"]] == [mask_id_number(n) for n in numbers]
    assert body["members"][0]["id_number"] == numbers[0][:3] + "*" * 11 + numbers[0][-4:]
    assert all("bank_account" not in m and "supporters" not in m for m in body["members"])
    person = (await staff[who].get(f"{E}/persons/{own['members'][0]['person_id']}")).json()
    assert person["id_number"] == mask_id_number(numbers[0]) and "bank_account" not in person
    [found] = (await staff[who].get(f"{E}/persons", params={"id_number": numbers[0]})).json()["items"]
    assert found["id_number"] == mask_id_number(numbers[0]) and "bank_account" not in found
    # the history holds old and new values (ID numbers, amounts): not for these roles
    assert (await staff[who].get(f"{E}/households/{own['household_id']}/history")).status_code == 403


async def test_a_caseworker_still_gets_the_full_view(clients, two_villages) -> None:
    own = two_villages["own"]
    body = (await clients["caseworker_a"].get(f"{E}/households/{own['household_id']}")).json()
    assert body["members"][0]["id_number"] == own["members"][0]["id_number"]
    assert body["members"][0]["bank_account"] == "6217000012345678"
    assert [(i["source"], i["amount"]) for i in body["incomes"]] == [("wages", "6000.00")]
    assert [(a["kind"], a["value"]) for a in body["assets"]] == [("deposit", "3000.00")]
    person = (await clients["auditor"].get(f"{E}/persons/{own['members'][0]['person_id']}")).json()
    assert person["bank_account"] == "6217000012345678" and person["id_number"] == own["members"][0]["id_number"]


async def test_applications_filter_by_town_and_village(clients, staff, two_villages) -> None:
    opened = {}
    for key in ("own", "other"):
        response = await clients["caseworker_a"].post(f"{E}/applications", json={"household_id": two_villages[key]["household_id"], "category": "dibao"})
        assert response.status_code == 201, response.text
        opened[key] = response.json()["application_id"]
    town_a = (await clients["auditor"].get(f"{E}/applications", params={"town": TOWN_A, "limit": 500})).json()["items"]
    assert {a["town"] for a in town_a} == {TOWN_A}
    assert (await clients["auditor"].get(f"{E}/applications", params={"town": TOWN_B, "household_id": two_villages["own"]["household_id"]})).json()["items"] == []
    refused = await clients["caseworker_b"].get(f"{E}/applications", params={"town": TOWN_A})
    assert refused.status_code == 404
    unknown = await clients["caseworker_a"].get(f"{E}/applications", params={"town": "999999999"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_town")
    mine = (await staff["officer"].get(f"{E}/applications", params={"limit": 500})).json()["items"]
    assert opened["own"] in {a["application_id"] for a in mine} and opened["other"] not in {a["application_id"] for a in mine}
    assert (await staff["officer"].get(f"{E}/applications/{opened['other']}")).status_code == 404
    assert (await staff["officer"].get(f"{E}/applications/{opened['own']}")).status_code == 200


async def test_a_department_cannot_tell_a_registered_person_from_an_unknown_one(clients, two_villages, set_clock) -> None:
    await set_clock("2020-06-15T09:00:00+08:00")
    known = two_villages["own"]["members"][1]["id_number"]
    rows = [{"id_number": known, "month": "2020-05", "amount": "0.01", "reference": f"MI-K-{known}"},
            {"id_number": new_id_number(), "month": "2020-05", "amount": "0.01", "reference": f"MI-U-{known}"},
            {"id_number": "350505198001011235", "month": "2020-05", "amount": "0.01", "reference": f"MI-C-{known}"}]
    response = await clients["medical_insurance"].post(f"{E}/departments/medical-expenses", json={"rows": rows})
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert (receipt["total"], receipt["accepted"], receipt["rejected"]) == (3, 2, 1) and "applied" not in receipt
    first, second, bad = receipt["rows"]
    assert {k: v for k, v in first.items() if k not in ("row", "reference")} == {k: v for k, v in second.items() if k not in ("row", "reference")} \
        == {"status": "accepted", "errors": []}
    assert (bad["status"], bad["errors"][0]["code"]) == ("rejected", "checksum")
    staff_view = (await clients["auditor"].get(f"{E}/departments/batches/{receipt['batch_id']}")).json()
    assert [(r["status"], r["errors"][0]["code"] if r["errors"] else None, r["answered"]) for r in staff_view["rows"]] == [
        ("applied", None, "accepted"), ("rejected", "unknown_person", "accepted"), ("rejected", "checksum", "rejected")]
    assert staff_view["rows"][0]["person_id"] == two_villages["own"]["members"][1]["person_id"]


async def test_a_future_death_is_rejected_whoever_the_person_is(clients, two_villages, set_clock) -> None:
    await set_clock("2020-06-15T09:00:00+08:00")
    rows = [{"id_number": two_villages["own"]["members"][1]["id_number"], "died_on": "2020-07-01"},
            {"id_number": new_id_number(), "died_on": "2020-07-01"}]
    receipt = (await clients["public_security"].post(f"{E}/departments/deaths", json={"rows": rows})).json()
    assert [(r["status"], r["errors"][0]["code"]) for r in receipt["rows"]] == [("rejected", "future_date")] * 2


async def test_figures_of_assessments_are_not_for_the_reduced_roles(staff, two_villages, clients) -> None:
    own = two_villages["own"]["household_id"]
    for who in ("officer", "care"):
        assert (await staff[who].post(f"{E}/households/{own}/dibao:evaluate", json={})).status_code == 403
        assert (await staff[who].get(f"{E}/households/{own}/decisions")).status_code == 403
    assert (await clients["caseworker_a"].post(f"{E}/households/{own}/dibao:evaluate", json={})).status_code == 200
    benefits = (await staff["officer"].get(f"{E}/benefits", params={"limit": 500})).json()["items"]
    assert {b["village"] for b in benefits} <= {VILLAGE_A}


async def _every(client: httpx.AsyncClient, path: str, **params: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = (await client.get(f"{E}{path}", params=params | {"limit": 500} | ({"cursor": cursor} if cursor else {}))).json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


async def test_referrals_and_rechecks_are_limited_to_a_village_officers_village(api, clients, staff, set_clock, events) -> None:
    await set_clock("2020-06-15T09:00:00+08:00")
    ids = {}
    for key, village in (("own", VILLAGE_A), ("other", OTHER_VILLAGE)):
        # ex-poor, 6000 yuan a head a year < 1080 a month x 12: low income, a referral to assess (R-RM-5)
        body = household(village=village, members=[member(), member("spouse", sex="female")], ex_poor=True,
                         incomes=[{"source": "wages", "amount": "12000.00"}])
        response = await clients["caseworker_a"].post(f"{E}/households", json=body)
        assert response.status_code == 201, response.text
        ids[key] = response.json()["household_id"]
        await events.wait_for(events.of("eligibility.referral.created", household_id=ids[key], kind="assessment"))
        granted = await api.post(f"{E}/households/{ids[key]}/roster-entries", json={"category": "dibao", "approved_on": "2020-06-10"})
        assert granted.status_code == 201, granted.text
    seen = {r["household_id"] for r in await _every(staff["officer"], "/referrals")}
    assert ids["own"] in seen and ids["other"] not in seen
    assert (await staff["officer"].get(f"{E}/referrals", params={"household_id": ids["other"]})).json()["items"] == []
    # the town's caseworker and care worker still see both villages' referrals
    for client in (clients["caseworker_a"], staff["care"]):
        town = {r["household_id"] for r in await _every(client, "/referrals")}
        assert {ids["own"], ids["other"]} <= town
    # re-checks: a stable household 12 months after its assessment (R-DB-9)
    due = {r["household_id"]: r["due_on"] for r in await _every(staff["officer"], "/rechecks", due_by="2021-06-10")}
    assert due.get(ids["own"]) == "2021-06-10" and ids["other"] not in due
    town_due = {r["household_id"] for r in await _every(clients["caseworker_a"], "/rechecks", due_by="2021-06-10")}
    assert {ids["own"], ids["other"]} <= town_due
    # a village officer's assessments of another village's household: 404 (as another town's)
    assert (await staff["officer"].get(f"{E}/households/{ids['other']}/risk-assessments")).status_code == 404
    assert (await staff["officer"].get(f"{E}/households/{ids['own']}/risk-assessments")).status_code == 200
