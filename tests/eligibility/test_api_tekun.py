"""R-TK-1 in eligibility, through the gateway and the real care service: the self-care level care
assesses (``care.selfcare.assessed``) is recorded on the person, in the household's history and on
the next tekun decision's trace; a tekun minor's support is reviewed on the 18th birthday by the
worker on the controllable clock — it ends after that month unless the person is still at school."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import pytest

from tests.eligibility.conftest import household, member

E = "/api/v1/eligibility"


@pytest.fixture(autouse=True)
async def back_to_june_2020(set_clock):  # noqa: ANN001
    await set_clock("2020-06-15T09:00:00+08:00")
    yield
    await set_clock("2020-06-15T09:00:00+08:00")


async def _until(probe, *, timeout: float = 30.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


async def _tekun(api, clients, birth: date, approved_on: str, **fields) -> tuple[dict, dict]:  # noqa: ANN001, ANN003
    created = (await clients["caseworker_a"].post(f"{E}/households", json=household(members=[member(birth=birth, **fields)]))).json()
    person_id = created["members"][0]["person_id"]
    entry = await api.post(f"{E}/households/{created['household_id']}/roster-entries",
                           json={"category": "tekun", "person_id": person_id, "approved_on": approved_on})
    assert entry.status_code == 201, entry.text
    return created, entry.json()


async def test_the_self_care_level_assessed_by_care_is_recorded(api, clients) -> None:  # noqa: ANN001
    created, entry = await _tekun(api, clients, date(1950, 3, 1), "2020-06-10")
    person_id = created["members"][0]["person_id"]
    assert entry["decision"]["trace"]["self_care"] is None  # not assessed yet

    async def care_person() -> str | None:
        page = (await api.get("/api/v1/care/persons", params={"tekun": "true", "eligibility_person_id": person_id})).json()
        return page["items"][0]["id"] if page["items"] else None

    care_id = await _until(care_person)  # care learnt from benefit.granted that the person is tekun
    assessed = await api.post(f"/api/v1/care/persons/{care_id}/assessments", json={
        "not_achieved": ["eating", "dressing", "bed_transfer", "toileting"], "assessed_on": "2020-06-15", "assessor": "评估员陈"})
    assert assessed.status_code == 201, assessed.text

    async def recorded() -> dict | None:
        person = (await api.get(f"{E}/persons/{person_id}")).json()
        return person if person["self_care_level"] else None

    person = await _until(recorded)
    assert (person["self_care_level"], person["self_care_assessed_on"]) == ("full_loss", "2020-06-15")
    history = (await api.get(f"{E}/households/{created['household_id']}/history", params={"limit": 100})).json()["items"]
    [entry_] = [h for h in history if h["action"] == "self_care_assessed"]
    assert entry_["actor"] == "care" and entry_["changes"]["self_care_level"] == [None, "full_loss"]
    again = (await api.post(f"{E}/households/{created['household_id']}/roster-entries",
                            json={"category": "tekun", "person_id": person_id, "approved_on": "2020-06-15"})).json()
    self_care = again["decision"]["trace"]["self_care"]
    assert (self_care["level"], self_care["assessed_on"], self_care["rule"]) == ("full_loss", "2020-06-15", "R-TK-2")
    assert self_care["assessment_id"] == assessed.json()["id"]


async def test_a_tekun_minor_is_reviewed_on_the_18th_birthday(api, clients, set_clock, events) -> None:  # noqa: ANN001
    # Both 15 when entered in January 2019 (the grounds: a minor, R-TK-1); 780.00 = 1.3 × 600.
    leaving, entry = await _tekun(api, clients, date(2003, 1, 20), "2019-01-10")
    staying, kept = await _tekun(api, clients, date(2003, 1, 25), "2019-01-10", school_enrolment="high_school")
    assert (entry["decision"]["trace"]["figures"]["support_until"], entry["benefits"][0]["monthly_amount"]) == ("2021-01-20", "780.00")
    assert kept["decision"]["trace"]["figures"]["support_until"] == "2021-01-25"
    leaving_id, staying_id = entry["benefits"][0]["benefit_id"], kept["benefits"][0]["benefit_id"]

    await set_clock("2021-01-21T09:00:00+08:00")
    [ended] = await events.wait_for(events.of("eligibility.benefit.ended", benefit_id=leaving_id), timeout=30)
    assert (ended["data"]["last_month"], ended["data"]["reason"], ended["data"]["category"]) == ("2021-01", "no_longer_eligible", "tekun")
    decisions = (await api.get(f"{E}/households/{leaving['household_id']}/decisions")).json()["items"]
    assert (decisions[0]["kind"], decisions[0]["outcome"], decisions[0]["assessed_on"]) == ("review", "not_eligible", "2021-01-20")
    assert "capacity_to_work" in decisions[0]["trace"]["reasons"]
    assert (await api.get(f"{E}/benefits", params={"household_id": staying["household_id"]})).json()["items"][0]["status"] == "active"

    # At school the support continues past 18 (reviewed on the 25th with the 2021 standard: 1.3 × 720).
    await set_clock("2021-01-26T09:00:00+08:00")
    [changed] = await events.wait_for(events.of("eligibility.benefit.changed", benefit_id=staying_id), timeout=30)
    assert (changed["data"]["monthly_amount"], changed["data"]["effective_month"], changed["data"]["status"]) == ("936.00", "2021-02", "active")
    decisions = (await api.get(f"{E}/households/{staying['household_id']}/decisions")).json()["items"]
    assert (decisions[0]["kind"], decisions[0]["outcome"]) == ("review", "eligible")
    assert "support_until" not in decisions[0]["trace"]["figures"]
    assert not [e for e in events.events if e["type"] == "eligibility.benefit.ended" and e["data"]["benefit_id"] == staying_id]
