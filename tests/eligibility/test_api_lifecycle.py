"""Benefit lifecycles driven by time and by other departments: R-DB-6 gradual exit ended by the
worker, an R-DB-9 refusal whose notification deadline is breached, moves reported by public
security, disability certificates from the federation."""

from __future__ import annotations

from datetime import date

import pytest

from tests.eligibility.conftest import TOWN_A, TOWN_B, VILLAGE_B, household, member

E = "/api/v1/eligibility"


@pytest.fixture(autouse=True, scope="module")
async def back_to_june_2020(set_clock):  # noqa: ANN001
    await set_clock("2020-06-15T09:00:00+08:00")
    yield
    await set_clock("2020-06-15T09:00:00+08:00")


async def _household(clients, **fields) -> dict:  # noqa: ANN001, ANN003
    response = await clients["caseworker_a"].post(f"{E}/households", json=household(**fields))
    assert response.status_code == 201, response.text
    return response.json()


async def test_gradual_exit_then_the_worker_ends_it(api, clients, set_clock, events) -> None:
    created = await _household(clients, registered_poor=True, members=[member(), member("spouse", sex="female")],
                               incomes=[{"source": "wages", "amount": "12000.00"}])
    household_id = created["household_id"]
    entry = (await api.post(f"{E}/households/{household_id}/roster-entries", json={"category": "dibao", "approved_on": "2020-06-10"})).json()
    [benefit] = entry["benefits"]
    assert (benefit["monthly_amount"], benefit["effective_month"]) == ("440.00", "2020-07")  # 1440 - 1000
    await clients["caseworker_a"].post(f"{E}/households/{household_id}/incomes", json={"source": "business", "amount": "20000.00"})
    preview = (await clients["caseworker_a"].post(f"{E}/households/{household_id}/dibao:evaluate", json={})).json()
    assert (preview["outcome"], preview["per_capita_monthly"]) == ("gradual_exit", "1333.33")
    refused = await clients["approver_b"].post(f"{E}/households/{household_id}/reassessments", json={})
    assert refused.status_code == 404
    result = (await clients["approver_a"].post(f"{E}/households/{household_id}/reassessments", json={"note": "income rose"})).json()
    assert result["decision"]["outcome"] == "gradual_exit" and "R-DB-6" in result["decision"]["rules"]
    [after] = result["benefits"]
    assert (after["status"], after["gradual_exit_until"], after["monthly_amount"]) == ("gradual_exit", "2021-06", "440.00")
    [changed] = await events.wait_for(events.of("eligibility.benefit.changed", benefit_id=benefit["benefit_id"], change_reason="gradual_exit_started"))
    assert changed["data"]["gradual_exit_until"] == "2021-06"
    await set_clock("2021-06-01T09:00:00+08:00")
    [ended] = await events.wait_for(events.of("eligibility.benefit.ended", benefit_id=benefit["benefit_id"]), timeout=30)
    assert (ended["data"]["last_month"], ended["data"]["reason"]) == ("2021-06", "gradual_exit_ended")
    await set_clock("2020-06-15T09:00:00+08:00")


async def test_refusal_notice_deadline_breached_once(clients, set_clock, events) -> None:
    created = await _household(clients)
    caseworker = clients["caseworker_a"]
    application = (await caseworker.post(f"{E}/applications", json={"household_id": created["household_id"], "category": "dibao"})).json()
    url = f"{E}/applications/{application['application_id']}"
    await caseworker.post(f"{url}:start-investigation")
    await caseworker.post(f"{url}:give-opinion", json={"opinion": "refuse", "note": "income above the standard"})
    assert (await caseworker.post(f"{url}:publish-notice", json={})).json()["code"] == "no_notice_for_refusal"
    await caseworker.post(f"{url}:submit")
    refused = (await clients["approver_a"].post(f"{url}:refuse", json={"reasons": ["per_capita_income_not_below_standard"]})).json()
    deadline = {d["step"]: d for d in refused["deadlines"]}["refusal_notice"]
    assert (deadline["due_date"], deadline["state"]) == ("2020-06-18", "open")
    await set_clock("2020-06-19T00:00:01+08:00")
    [breach] = await events.wait_for(events.of("eligibility.application.deadline_breached", application_id=application["application_id"]), timeout=30)
    assert (breach["data"]["step"], breach["data"]["due_date"], breach["data"]["town"]) == ("refusal_notice", "2020-06-18", TOWN_A)
    late = (await caseworker.post(f"{url}:notify-refusal")).json()
    assert {d["step"]: d["state"] for d in late["deadlines"]}["refusal_notice"] == "met_late"
    assert late["status"] == "refusal_notified"
    await set_clock("2020-06-15T09:00:00+08:00")


async def test_moves_out_of_the_district_and_to_another_town(api, clients, events) -> None:
    stays, leaves = member(), member("spouse", sex="female")
    created = await _household(clients, members=[stays, leaves], incomes=[{"source": "wages", "amount": "6000.00"}])
    household_id = created["household_id"]
    granted = (await api.post(f"{E}/households/{household_id}/roster-entries", json={"category": "dibao", "approved_on": "2020-06-10"})).json()
    benefit_id = granted["benefits"][0]["benefit_id"]
    alone = await _household(clients, members=[member(birth=date(1950, 1, 1))])
    tekun = (await api.post(f"{E}/households/{alone['household_id']}/roster-entries",
                            json={"category": "tekun", "person_id": alone["members"][0]["person_id"], "approved_on": "2020-06-10"})).json()
    rows = [
        {"id_number": leaves["id_number"], "moved_on": "2020-06-05", "reference": "MV-1"},
        {"id_number": alone["members"][0]["id_number"], "moved_on": "2020-06-06", "to_town": TOWN_B, "to_village": VILLAGE_B},
        {"id_number": stays["id_number"], "moved_on": "2020-06-07", "to_town": TOWN_B},
    ]
    report = (await clients["public_security"].post(f"{E}/departments/moves", json={"rows": rows})).json()
    assert [r["status"] for r in report["rows"]] == ["accepted", "accepted", "rejected"]  # the sender's receipt
    assert report["rows"][2]["errors"][0]["code"] == "unknown_village"
    staff = (await api.get(f"{E}/departments/batches/{report['batch_id']}")).json()
    assert [r["status"] for r in staff["rows"]] == ["applied", "applied", "rejected"]
    [moved] = await events.wait_for(events.of("eligibility.person.moved", person_id=created["members"][1]["person_id"]))
    assert (moved["data"]["from_town"], moved["data"]["to_town"], moved["data"]["to_household_id"]) == (TOWN_A, None, None)
    [changed] = await events.wait_for(events.of("eligibility.benefit.changed", benefit_id=benefit_id, change_reason="member_moved"))
    assert changed["data"]["members"] == [created["members"][0]["person_id"]]
    assert (changed["data"]["monthly_amount"], changed["data"]["effective_month"]) == ("220.00", "2020-07")  # 720 - 500
    tekun_id = tekun["benefits"][0]["benefit_id"]
    [followed] = await events.wait_for(events.of("eligibility.benefit.changed", benefit_id=tekun_id, change_reason="household_moved"))
    assert (followed["data"]["town"], followed["data"]["village"], followed["data"]["monthly_amount"]) == (TOWN_B, VILLAGE_B, "936.00")
    assert (await clients["caseworker_a"].get(f"{E}/households/{alone['household_id']}")).status_code == 404  # now town B's
    assert (await clients["caseworker_b"].get(f"{E}/households/{alone['household_id']}")).json()["town"] == TOWN_B


async def test_disability_certificates_update_the_member(api, clients, events) -> None:
    created = await _household(clients, members=[member()])
    number = created["members"][0]["id_number"]
    rows = [{"id_number": number, "certificate_number": "C-35050519", "disability_grade": 2, "disability_kind": "visual", "issued_on": "2020-06-01"},
            {"id_number": number, "certificate_number": "C-X", "issued_on": "2020-06-01"}]
    report = (await api.post(f"{E}/departments/disability-certificates", json={"rows": rows})).json()
    assert [r["status"] for r in report["rows"]] == ["accepted", "rejected"] and report["rows"][1]["errors"][0]["code"] == "disability"
    [event] = await events.wait_for(lambda e: e["type"] == "eligibility.household.changed" and e["data"]["household_id"] == created["household_id"])
    assert (event["data"]["members"][0]["disability_grade"], event["data"]["members"][0]["disability_kind"]) == (2, "visual")
    batches = (await clients["auditor"].get(f"{E}/departments/batches", params={"kind": "disability_certificates"})).json()["items"]
    [staff] = [b for b in batches if b["batch_id"] == report["batch_id"]]
    assert [r["status"] for r in staff["rows"]] == ["applied", "rejected"] and staff["rows"][0]["person_id"] == created["members"][0]["person_id"]


async def test_rechecks_are_due_12_or_6_months_after_the_assessment(api, clients) -> None:
    stable = await _household(clients, members=[member()])
    irregular = await _household(clients, irregular_income=True, members=[member()])
    for created in (stable, irregular):
        response = await api.post(f"{E}/households/{created['household_id']}/roster-entries", json={"category": "dibao", "approved_on": "2020-06-10"})
        assert response.status_code == 201, response.text

    async def due(by: str) -> dict[str, str]:
        items, cursor = [], None
        while True:
            params = {"due_by": by, "limit": 500} | ({"cursor": cursor} if cursor else {})
            page = (await clients["caseworker_a"].get(f"{E}/rechecks", params=params)).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return {i["household_id"]: i["due_on"] for i in items}

    due_ids = await due("2020-12-10")
    assert due_ids.get(irregular["household_id"]) == "2020-12-10" and stable["household_id"] not in due_ids
    assert (await due("2021-06-10")).get(stable["household_id"]) == "2021-06-10"
    assert stable["household_id"] not in {i["household_id"] for i in (await clients["caseworker_b"].get(f"{E}/rechecks", params={"due_by": "2021-06-10"})).json()["items"]}
