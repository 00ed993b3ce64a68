"""The registry through the gateway: registration, one person one record, Unicode names, bad input
storing nothing, town scoping, history, the audit log, bulk intake."""

from __future__ import annotations

import pytest

from tests.eligibility.conftest import TOWN_A, TOWN_B, VILLAGE_B, household, member, new_id_number

H = "/api/v1/eligibility/households"


@pytest.fixture(scope="module")
async def registered(api, set_clock, clients, events) -> dict:  # noqa: ANN001
    await set_clock("2020-06-15T09:00:00+08:00")
    body = household(members=[member(name="王𠮷"), member("spouse", name="Zoë Ⅻ 𠀀", sex="female")],
                     incomes=[{"source": "wages", "amount": "18000.00"}, {"source": "scholarship", "amount": "2000.00"}],
                     expenditures=[{"category": "medical", "amount": "3600.00"}])
    response = await clients["caseworker_a"].post(H, json=body)
    assert response.status_code == 201, response.text
    return {"body": body, "household": response.json()}


async def test_registration_normalises_and_keeps_unicode(registered) -> None:
    household_out, body = registered["household"], registered["body"]
    names = [m["name"] for m in household_out["members"]]
    assert names == ["王𠮷", "Zoë Ⅻ 𠀀"]
    head = household_out["members"][0]
    assert head["id_number"] == body["members"][0]["id_number"] and head["relation"] == "head"
    assert head["birth_date"] == f"{body['members'][0]['id_number'][6:10]}-{body['members'][0]['id_number'][10:12]}-{body['members'][0]['id_number'][12:14]}"
    assert household_out["members"][1]["sex"] == "female"
    incomes = {i["source"]: i for i in household_out["incomes"]}
    assert incomes["wages"]["counted"] is True and incomes["scholarship"]["counted"] is False  # R-DB-2 exclusion
    assert (incomes["wages"]["first_month"], incomes["wages"]["last_month"]) == ("2019-06", "2020-05")


async def test_household_registered_event_has_the_full_member_list(registered, events) -> None:
    household_id = registered["household"]["household_id"]
    [event] = await events.wait_for(events.of("eligibility.household.registered", household_id=household_id))
    data = event["data"]
    assert data["town"] == TOWN_A and [m["name"] for m in data["members"]] == ["王𠮷", "Zoë Ⅻ 𠀀"]
    assert data["members"][0]["id_number"] == registered["body"]["members"][0]["id_number"]
    assert set(data["members"][0]) >= {"person_id", "sex", "birth_date", "disability_grade", "school_enrolment", "bank_account",
                                       "deceased_on", "left_behind", "orphan", "child_without_care", "revolutionary_veteran"}


async def test_same_id_number_twice_is_refused_naming_the_household(registered, clients) -> None:
    taken = registered["body"]["members"][1]["id_number"]
    fresh = new_id_number()
    body = household(members=[member(), member("child")])
    body["members"][0]["id_number"], body["members"][1]["id_number"] = fresh, taken
    response = await clients["caseworker_a"].post(H, json=body)
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "id_number_registered"
    assert problem["household_id"] == registered["household"]["household_id"]
    assert problem["errors"][0]["field"] == "members.1.id_number"
    lookup = await clients["caseworker_a"].get("/api/v1/eligibility/persons", params={"id_number": fresh})
    assert lookup.json()["items"] == []  # nothing of the refused household was stored


@pytest.mark.parametrize(("change", "code"), [
    ({"town": "350505999"}, "unknown_town"),
    ({"members": [{"id_number": "350505198001011235", "name": "李四", "relation": "head"}]}, "checksum"),
    ({"members": [{"id_number": "3505051980010112a4", "name": "李四", "relation": "head"}]}, "format"),
    ({"incomes": [{"source": "wages", "amount": "-5.00"}]}, "negative"),
    ({"incomes": [{"source": "wages", "amount": "lots"}]}, "not_a_number"),
    ({"incomes": [{"source": "wages", "amount": "1000000000000000"}]}, "too_large"),
    ({"members": []}, "too_short"),
    ({"village": VILLAGE_B}, "village_not_in_town"),
])
async def test_bad_household_is_422_and_stores_nothing(clients, change: dict, code: str) -> None:
    body = household() | change
    number = body["members"][0]["id_number"] if body["members"] else None
    response = await clients["caseworker_a"].post(H, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    if number and code not in ("checksum", "format"):
        lookup = await clients["caseworker_a"].get("/api/v1/eligibility/persons", params={"id_number": number})
        assert lookup.json()["items"] == []


async def test_the_id_number_lookup_reads_numbers_as_registration_does(registered, clients) -> None:
    """The lookup's ``id_number`` is parsed as at registration: full-width digits, a lower-case x
    and an ideographic space find the person; a malformed number is 422, not an empty page."""
    member = registered["household"]["members"][0]
    number = member["id_number"]
    full_width = number.translate({ord(str(d)): chr(0xFF10 + d) for d in range(10)}).replace("X", "ｘ")
    for typed in (number, full_width, "\u3000" + number.lower() + " "):
        items = (await clients["caseworker_a"].get("/api/v1/eligibility/persons", params={"id_number": typed})).json()["items"]
        assert [p["person_id"] for p in items] == [member["person_id"]], typed
    for typed, code in (("abc", "format"), ("٣٥٠٥٠٥١٩٨٠٠١٠١١٢٣٤", "format"), (number[:-1] + ("0" if number[-1] != "0" else "1"), "checksum")):
        response = await clients["caseworker_a"].get("/api/v1/eligibility/persons", params={"id_number": typed})
        assert (response.status_code, response.json()["code"]) == (422, code)
    listed = await clients["caseworker_a"].get(H, params={"town": "35050599"})
    assert listed.status_code == 422 and listed.headers["content-type"].startswith("application/problem+json")


async def test_future_birth_date_is_refused(clients) -> None:
    from datetime import date

    body = household(members=[member(birth=date(2021, 1, 1))])
    response = await clients["caseworker_a"].post(H, json=body)
    assert response.status_code == 422 and response.json()["code"] == "birth_date"


async def test_town_scoping(registered, clients) -> None:
    household_id = registered["household"]["household_id"]
    other = clients["caseworker_b"]
    assert (await other.get(f"{H}/{household_id}")).status_code == 404
    assert (await other.patch(f"{H}/{household_id}", json={"edge": True})).status_code == 404
    person_id = registered["household"]["members"][0]["person_id"]
    assert (await other.get(f"/api/v1/eligibility/persons/{person_id}")).status_code == 404
    listed = (await other.get(H, params={"limit": 500})).json()["items"]
    assert all(h["town"] == TOWN_B for h in listed)
    refused = await other.post(H, json=household())
    assert refused.status_code == 403 and refused.json()["code"] == "other_town"
    assert (await clients["caseworker_a"].get(f"{H}/{household_id}")).status_code == 200


async def test_history_keeps_who_when_what(registered, clients, events) -> None:
    household_id = registered["household"]["household_id"]
    person_id = registered["household"]["members"][1]["person_id"]
    response = await clients["caseworker_a"].patch(f"/api/v1/eligibility/persons/{person_id}",
                                                   json={"disability_grade": 2, "disability_kind": "physical"})
    assert response.status_code == 200, response.text
    history = (await clients["caseworker_a"].get(f"{H}/{household_id}/history")).json()["items"]
    assert [h["action"] for h in history][:2] == ["registered", "member_changed"]
    change = history[1]
    assert change["person_id"] == person_id and change["client"] == "pytest"
    assert change["changes"] == {"disability_grade": [None, 2], "disability_kind": [None, "physical"]}
    assert change["actor"].startswith("town_caseworker_") and change["at"].startswith("2020-06-15T01:00:00")
    [event] = await events.wait_for(events.of("eligibility.household.changed", household_id=household_id))
    assert event["data"]["members"][1]["disability_grade"] == 2 and event["data"]["revision"] == 2


async def test_reads_are_audited_and_queryable_by_the_auditor(registered, clients) -> None:
    person_id = registered["household"]["members"][0]["person_id"]
    await clients["caseworker_a"].get(f"/api/v1/eligibility/persons/{person_id}")
    log = (await clients["auditor"].get("/api/v1/eligibility/audit-log", params={"record_id": person_id})).json()["items"]
    assert log, "the read was not audited"
    entry = log[0]
    assert entry["actor"].startswith("town_caseworker_") and entry["record_type"] == "person" and entry["client"] == "pytest"
    assert entry["town"] == TOWN_A and entry["path"] == f"/api/v1/eligibility/persons/{person_id}"
    # The actor filter ignores case, as usernames do.
    for typed in (entry["actor"], entry["actor"].upper()):
        by_actor = (await clients["auditor"].get("/api/v1/eligibility/audit-log", params={"actor": typed, "limit": 200})).json()["items"]
        assert entry["id"] in {e["id"] for e in by_actor} and {e["actor"] for e in by_actor} == {entry["actor"]}
    assert (await clients["caseworker_a"].get("/api/v1/eligibility/audit-log")).status_code == 403


async def test_bulk_csv_reports_per_row_and_stores_no_bad_row(clients) -> None:
    good, bad, dup = new_id_number(), "350505198001011235", new_id_number()
    csv_text = (
        "household_ref,town,village,address,ex_poor,id_number,name,relation,income_12m\n"
        f"h1,{TOWN_A},350505100002,沙格村1号,true,{good},陈一,head,12000.00\n"
        f"h2,{TOWN_A},350505100002,沙格村2号,false,{bad},陈二,head,\n"
        f"h3,{TOWN_A},350505100002,沙格村3号,false,{dup},陈三,head,\n"
        f"h4,{TOWN_A},350505100002,沙格村4号,false,{dup},陈四,head,\n"
    )
    response = await clients["caseworker_a"].post(f"{H}:bulk", content=csv_text.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total"], report["registered"], report["rejected"]) == (4, 1, 3)
    rows = {r["ref"]: r for r in report["rows"]}
    assert rows["h1"]["status"] == "registered"
    assert rows["h2"]["errors"][0]["code"] == "checksum"
    assert rows["h3"]["errors"][0]["code"] == rows["h4"]["errors"][0]["code"] == "duplicate_in_batch"
    found = (await clients["caseworker_a"].get("/api/v1/eligibility/persons", params={"id_number": dup})).json()["items"]
    assert found == []
    person = (await clients["caseworker_a"].get("/api/v1/eligibility/persons", params={"id_number": good})).json()["items"][0]
    household_out = (await clients["caseworker_a"].get(f"{H}/{person['household_id']}")).json()
    assert household_out["ex_poor"] is True and household_out["incomes"][0]["amount"] == "12000.00"


async def test_idempotency_key_replays_and_refuses_another_body(clients) -> None:
    body = household()
    headers = {"Idempotency-Key": f"reg-{body['members'][0]['id_number']}"}
    first = await clients["caseworker_a"].post(H, json=body, headers=headers)
    again = await clients["caseworker_a"].post(H, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["household_id"] == again.json()["household_id"]
    other = await clients["caseworker_a"].post(H, json=household(), headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


async def test_town_population_and_coverage(api, clients) -> None:
    response = await api.put(f"/api/v1/eligibility/towns/{TOWN_B}/population", json={"year": 2020, "registered_population": 40000})
    assert response.status_code == 200, response.text
    town = response.json()
    assert (town["name"], town["registered_population"], town["year"]) == ("界山镇", 40000, 2020)
    from decimal import ROUND_HALF_UP, Decimal

    expected = str((Decimal(town["dibao_members"]) * 100 / 40000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    assert town["coverage_rate"] == expected
    seen = (await clients["caseworker_a"].get("/api/v1/eligibility/towns", params={"year": 2020})).json()
    assert [t["town"] for t in seen] == [TOWN_A]
    assert (await clients["caseworker_a"].put(f"/api/v1/eligibility/towns/{TOWN_A}/population", json={"year": 2020, "registered_population": 1})).status_code == 403


async def test_a_read_with_the_longest_request_id_the_gateway_keeps_is_audited(registered, clients) -> None:
    """The request middleware keeps a caller's X-Request-ID up to 128 plain characters; the audit
    entry must hold it whole (the column was once 100 wide: such a read failed)."""
    person_id = registered["household"]["members"][0]["person_id"]
    request_id = "r" * 128
    response = await clients["caseworker_a"].get(f"/api/v1/eligibility/persons/{person_id}",
                                                 headers={"X-Request-ID": request_id})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id
    log = (await clients["auditor"].get("/api/v1/eligibility/audit-log", params={"record_id": person_id})).json()["items"]
    assert request_id in [entry["request_id"] for entry in log]
