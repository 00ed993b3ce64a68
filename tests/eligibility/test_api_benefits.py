"""Decisions and benefits through the gateway, and the events other services project from:
the R-DB-9 workflow up to ``benefit.granted``, approval by the household's own town, a new
standard recalculating the roster, a death reported by public security, tekun and allowance
roster entries, return-to-poverty monitoring fed by medical insurance."""

from __future__ import annotations

import pytest

from tests.eligibility.conftest import TOWN_A, household, member

E = "/api/v1/eligibility"


@pytest.fixture(scope="module")
async def dibao_household(set_clock, clients) -> dict:  # noqa: ANN001
    """A 3-member household: 18000 income, 3600 medical and 1200 employment costs over 2019-06..2020-05."""
    await set_clock("2020-06-15T09:00:00+08:00")
    body = household(members=[member(), member("spouse", sex="female"), member("child")],
                     incomes=[{"source": "wages", "amount": "18000.00"}],
                     expenditures=[{"category": "medical", "amount": "3600.00"}, {"category": "employment_cost", "amount": "1200.00"}])
    response = await clients["caseworker_a"].post(f"{E}/households", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
async def granted(dibao_household, clients, set_clock, events) -> dict:  # noqa: ANN001
    """The R-DB-9 workflow from acceptance to approval."""
    caseworker, approver = clients["caseworker_a"], clients["approver_a"]
    household_id = dibao_household["household_id"]
    application = (await caseworker.post(f"{E}/applications", json={"household_id": household_id, "category": "dibao"})).json()
    app_url = f"{E}/applications/{application['application_id']}"
    deadlines = {d["step"]: d for d in application["deadlines"]}
    assert deadlines["investigation_start"]["due_date"] == "2020-06-18"  # 3 working days after Monday 15 June
    assert deadlines["process"]["due_date"] == "2020-07-28"  # 30 working days (25 June is the Dragon Boat holiday)
    assert (await caseworker.post(f"{app_url}:start-investigation")).status_code == 200
    assert (await caseworker.post(f"{app_url}:give-opinion", json={"opinion": "approve"})).status_code == 200
    notice = (await caseworker.post(f"{app_url}:publish-notice", json={})).json()
    assert (notice["notice_from"], notice["notice_until"]) == ("2020-06-15", "2020-06-21")
    early = await caseworker.post(f"{app_url}:submit")
    assert early.status_code == 409 and early.json()["code"] == "notice_running"
    await set_clock("2020-06-22T09:00:00+08:00")
    submitted = (await caseworker.post(f"{app_url}:submit")).json()
    assert {d["step"]: d["due_date"] for d in submitted["deadlines"]}["decision"] == "2020-07-07"  # 10 working days; 25-27 June off, Sunday 28 June worked
    other_town = await clients["approver_b"].post(f"{app_url}:approve", json={})
    assert other_town.status_code == 404  # R-DB-7: only the household's own town approves
    not_approver = await caseworker.post(f"{app_url}:approve", json={})
    assert not_approver.status_code == 403
    response = await approver.post(f"{app_url}:approve", json={"note": "meets R-DB-3"})
    assert response.status_code == 200, response.text
    return {"application_url": app_url, **response.json()}


async def test_approval_grants_from_the_next_month_with_the_trace(granted, dibao_household) -> None:
    decision, [benefit] = granted["decision"], granted["benefits"]
    assert (decision["outcome"], decision["monthly_amount"], decision["effective_month"]) == ("eligible", "1060.00", "2020-07")
    trace = decision["trace"]
    assert trace["figures"]["net_income_12m"] == "13200.00" and trace["figures"]["benefit_unrounded"] == "1060.00"
    assert trace["registry"]["window"] == ["2019-06", "2020-05"]
    assert {p["version"] for p in trace["parameters"]} >= {"dibao_standard@2020-01-01"}
    assert benefit["category"] == "dibao" and benefit["monthly_amount"] == "1060.00" and benefit["effective_month"] == "2020-07"
    assert benefit["person_id"] == dibao_household["members"][0]["person_id"] and len(benefit["members"]) == 3


async def test_benefit_granted_event(granted, events) -> None:
    benefit = granted["benefits"][0]
    [event] = await events.wait_for(events.of("eligibility.benefit.granted", benefit_id=benefit["benefit_id"]))
    data = event["data"]
    assert (data["category"], data["monthly_amount"], data["effective_month"], data["town"]) == ("dibao", "1060.00", "2020-07", TOWN_A)
    assert data["decision_id"] == granted["decision"]["decision_id"] and data["rule"] == "R-DB-4" and data["amount_basis"] == "rule"
    assert sorted(data["members"]) == sorted(benefit["members"])


async def test_application_shows_met_deadlines(granted, clients) -> None:
    application = (await clients["caseworker_a"].get(granted["application_url"])).json()
    assert application["status"] == "approved"
    states = {d["step"]: d["state"] for d in application["deadlines"]}
    assert states == {"investigation_start": "met", "process": "met", "decision": "met"}
    assert [s["step"] for s in application["steps"]] == [
        "accepted", "investigation_started", "opinion_approve", "notice_published", "submitted_to_approver", "approved"]


async def test_a_new_standard_recalculates_the_roster_and_can_be_withdrawn(granted, api, events) -> None:
    benefit_id = granted["benefits"][0]["benefit_id"]
    response = await api.post(f"{E}/parameters", json={"name": "dibao_standard", "value": "750.00", "valid_from": "2031-01-01"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["recalculation"]["effective_month"] == "2031-01" and created["recalculation"]["changed"] >= 1
    [event] = await events.wait_for(lambda e: e["type"] == "eligibility.benefit.changed" and e["data"]["benefit_id"] == benefit_id
                                    and e["data"]["change_reason"] == "standard_change")
    data = event["data"]
    assert (data["monthly_amount"], data["previous_amount"], data["effective_month"]) == ("1150.00", "1060.00", "2031-01")  # 2250 - 1100
    decision = (await api.get(f"{E}/decisions/{data['decision_id']}")).json()
    assert decision["kind"] == "standard_change" and decision["trace"]["parameters"][0]["version"] == "dibao_standard@2031-01-01"
    versions = (await api.get(f"{E}/parameters", params={"name": "dibao_standard"})).json()
    assert [(v["value"], v["valid_from"], v["valid_to"]) for v in versions] == [
        ("600.00", "2019-01-01", "2019-12-31"), ("720.00", "2020-01-01", "2030-12-31"), ("750.00", "2031-01-01", None)]
    withdrawn = await api.delete(f"{E}/parameters/{created['version']['id']}")
    assert withdrawn.status_code == 200 and withdrawn.json()["reopened"]["valid_to"] is None
    back = await events.wait_for(lambda e: e["type"] == "eligibility.benefit.changed" and e["data"]["benefit_id"] == benefit_id
                                 and e["data"]["monthly_amount"] == "1060.00")
    assert back[0]["data"]["previous_amount"] == "1150.00"
    in_force = await api.delete(f"{E}/parameters/{versions[1]['id']}")
    assert in_force.status_code == 409 and in_force.json()["code"] == "parameter_in_force"


async def test_parameters_are_read_by_anyone_and_changed_by_the_district_admin(clients) -> None:
    assert (await clients["caseworker_b"].get(f"{E}/parameters", params={"on": "2020-06-15", "name": "dibao_standard"})).json()[0]["value"] == "720.00"
    refused = await clients["approver_a"].post(f"{E}/parameters", json={"name": "dibao_standard", "value": "800.00", "valid_from": "2032-01-01"})
    assert refused.status_code == 403


async def test_death_ends_the_persons_benefits_and_reassesses_the_household(granted, dibao_household, clients, set_clock, events) -> None:
    await set_clock("2020-08-20T09:00:00+08:00")
    child = dibao_household["members"][2]
    row = {"id_number": child["id_number"], "died_on": "2020-08-10", "reference": "PS-1"}
    response = await clients["public_security"].post(f"{E}/departments/deaths", json={"rows": [row, {"id_number": "350505198001011235", "died_on": "2020-08-01"}]},
                                                     headers={"Idempotency-Key": "deaths-batch-1"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(r["status"], r["errors"][0]["code"] if r["errors"] else None) for r in report["rows"]] == [("accepted", None), ("rejected", "checksum")]
    replay = await clients["public_security"].post(f"{E}/departments/deaths", json={"rows": [row, {"id_number": "350505198001011235", "died_on": "2020-08-01"}]},
                                                   headers={"Idempotency-Key": "deaths-batch-1"})
    assert replay.json()["batch_id"] == report["batch_id"]
    [deceased] = await events.wait_for(events.of("eligibility.person.deceased", person_id=child["person_id"]))
    assert deceased["data"]["died_on"] == "2020-08-10" and deceased["data"]["household_id"] == dibao_household["household_id"]
    benefit_id = granted["benefits"][0]["benefit_id"]
    [changed] = await events.wait_for(lambda e: e["type"] == "eligibility.benefit.changed" and e["data"]["benefit_id"] == benefit_id
                                      and e["data"]["change_reason"] == "member_deceased")
    assert (changed["data"]["monthly_amount"], changed["data"]["effective_month"]) == ("340.00", "2020-09")  # 1440 - 1100
    assert child["person_id"] not in changed["data"]["members"] and len(changed["data"]["members"]) == 2
    [household_changed] = await events.wait_for(lambda e: e["type"] == "eligibility.household.changed"
                                                and e["data"]["household_id"] == dibao_household["household_id"]
                                                and any(m["deceased_on"] for m in e["data"]["members"]))
    assert {m["person_id"]: m["status"] for m in household_changed["data"]["members"]}[child["person_id"]] == "deceased"


async def test_tekun_and_allowances_as_roster_entries(api, clients, set_clock, events) -> None:
    from datetime import date

    await set_clock("2020-06-15T09:00:00+08:00")
    elder = member(birth=date(1948, 3, 3), supporters=[{"relation": "nephew", "able_to_support": False}])
    kid = member("grandchild", birth=date(2012, 5, 5), parents=[{"situation": "dead"}, {"situation": "imprisoned"}])
    created = (await clients["caseworker_a"].post(f"{E}/households", json=household(members=[elder, kid]))).json()
    elder_id, kid_id = created["members"][0]["person_id"], created["members"][1]["person_id"]
    tekun = await api.post(f"{E}/households/{created['household_id']}/roster-entries",
                           json={"category": "tekun", "person_id": elder_id, "approved_on": "2020-03-10"})
    assert tekun.status_code == 201, tekun.text
    [benefit] = tekun.json()["benefits"]
    assert (benefit["category"], benefit["monthly_amount"], benefit["effective_month"]) == ("tekun", "936.00", "2020-04")
    cwc = (await api.post(f"{E}/households/{created['household_id']}/roster-entries",
                          json={"category": "child_without_care", "person_id": kid_id, "approved_on": "2020-03-10"})).json()
    assert [(b["category"], b["amount_basis"], b["monthly_amount"]) for b in cwc["benefits"]] == [("child_without_care", "payer_standard", "0.00")]
    [event] = await events.wait_for(events.of("eligibility.benefit.granted", person_id=kid_id))
    assert event["data"]["category"] == "child_without_care" and event["data"]["rule"] == "R-OR-2"
    town_user = await clients["approver_a"].post(f"{E}/households/{created['household_id']}/roster-entries",
                                                 json={"category": "tekun", "person_id": elder_id, "approved_on": "2020-03-10"})
    assert town_user.status_code == 403


async def test_medical_expenses_flag_an_expenditure_shock_and_refer(clients, set_clock, events) -> None:
    await set_clock("2020-06-15T09:00:00+08:00")
    created = (await clients["caseworker_a"].post(f"{E}/households", json=household(
        members=[member(), member("spouse", sex="female")], ex_poor=True, incomes=[{"source": "wages", "amount": "12000.00"}]))).json()
    household_id = created["household_id"]
    [first] = await events.wait_for(events.of("eligibility.risk.flagged", household_id=household_id))
    assert [f["code"] for f in first["data"]["flags"]] == ["low_income"]  # 500 a head < 1080
    row = {"id_number": created["members"][1]["id_number"], "month": "2020-05", "amount": "8000.00", "reference": f"MI-{household_id}"}
    report = (await clients["medical_insurance"].post(f"{E}/departments/medical-expenses", json={"rows": [row]})).json()
    again = (await clients["medical_insurance"].post(f"{E}/departments/medical-expenses", json={"rows": [row]})).json()
    assert (report["accepted"], again["accepted"]) == (1, 1)  # the sender is not told what the row did
    staff = [(await clients["auditor"].get(f"{E}/departments/batches/{r['batch_id']}")).json() for r in (report, again)]
    assert [(b["applied"], b["duplicates"]) for b in staff] == [(1, 0), (0, 1)]
    flagged = await events.wait_for(events.of("eligibility.risk.flagged", household_id=household_id), count=2)
    shock = next(f for f in flagged[-1]["data"]["flags"] if f["code"] == "expenditure_shock")
    assert shock["rule"] == "R-RM-2" and shock["figures"]["income_prev_year"] == "7000.00" and shock["figures"]["excess"] == "1000.00"
    [relief] = await events.wait_for(events.of("eligibility.referral.created", household_id=household_id, kind="expenditure_relief"))
    assert relief["data"]["suggested_amount"] == "1000.00"
    referrals = (await clients["caseworker_a"].get(f"{E}/referrals", params={"household_id": household_id})).json()["items"]
    assert sorted(r["kind"] for r in referrals) == ["assessment", "expenditure_relief"]
    assert (await clients["caseworker_b"].get(f"{E}/referrals", params={"household_id": household_id})).json()["items"] == []
