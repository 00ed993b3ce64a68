"""``GET /api/v1/eligibility/kpis`` through the gateway (R-DB-8): coverage and the per-capita
benefit growth of two households of 前黄镇 whose amounts follow the standard (600 in 2019, 720
from 2020-01-01), during the year and at its end, with town scoping."""

from __future__ import annotations

import pytest

from tests.eligibility.conftest import TOWN_A, _make_user, household, member

E = "/api/v1/eligibility"
TOWN = "350505105"  # 前黄镇: no other eligibility test uses it
VILLAGE = "350505105001"


@pytest.fixture(scope="module")
async def town_users(api, gateway_url) -> dict:  # noqa: ANN001
    from tests.eligibility.conftest import Users

    tokens = {"approver": await _make_user(api, gateway_url, "town_approver", TOWN),
              "caseworker": await _make_user(api, gateway_url, "town_caseworker", TOWN)}
    return {who: Users(gateway_url, tokens).client(who) for who in tokens}


async def _roster(api, household_id: str, approved_on: str, effective_month: str) -> dict:  # noqa: ANN001
    response = await api.post(f"{E}/households/{household_id}/roster-entries",
                              json={"category": "dibao", "approved_on": approved_on, "effective_month": effective_month})
    assert response.status_code == 201, response.text
    return response.json()


async def test_coverage_and_growth_of_a_town(api, clients, town_users, set_clock) -> None:  # noqa: ANN001
    await set_clock("2020-06-15T09:00:00+08:00")
    caseworker, approver = town_users["caseworker"], town_users["approver"]
    try:
        # H1: 2 members, 500 a month net (12000 over 2018-01..2019-12): 600×2 − 500 = 700 from
        # 2019-01, 720×2 − 500 = 940 from 2020-01.
        h1 = (await caseworker.post(f"{E}/households", json=household(
            town=TOWN, village=VILLAGE, members=[member(), member("spouse", sex="female")],
            incomes=[{"source": "wages", "amount": "12000.00", "first_month": "2018-01", "last_month": "2019-12"}]))).json()
        first = await _roster(api, h1["household_id"], "2019-01-01", "2019-01")
        assert first["benefits"][0]["monthly_amount"] == "700.00"
        second = await _roster(api, h1["household_id"], "2020-01-01", "2020-01")
        assert (second["benefits"][0]["monthly_amount"], second["decision"]["effective_month"]) == ("940.00", "2020-01")
        # H2: 3 members, 600 a month net: 1800 − 600 = 1200 from 2019-07, 2160 − 600 = 1560 from
        # 2020-01, withdrawn after 2020-09.
        h2 = (await caseworker.post(f"{E}/households", json=household(
            town=TOWN, village=VILLAGE, members=[member(), member("spouse", sex="female"), member("child")],
            incomes=[{"source": "wages", "amount": "14400.00", "first_month": "2018-01", "last_month": "2019-12"}]))).json()
        granted = await _roster(api, h2["household_id"], "2019-06-20", "2019-07")
        assert granted["benefits"][0]["monthly_amount"] == "1200.00"
        changed = await _roster(api, h2["household_id"], "2020-01-01", "2020-01")
        benefit_id = changed["benefits"][0]["benefit_id"]
        assert changed["benefits"][0]["monthly_amount"] == "1560.00"
        ended = await approver.post(f"{E}/benefits/{benefit_id}:end", json={"reason": "withdrawn", "last_month": "2020-09"})
        assert ended.status_code == 200, ended.text
        population = await api.put(f"{E}/towns/{TOWN}/population", json={"year": 2020, "registered_population": 800})
        assert population.status_code == 200, population.text

        # During the year: 2020-01..06 = (940×6 + 1560×6) / (2×6 + 3×6) = 15000 / 30 = 500.00;
        # 2019 = (700×12 + 1200×6) / (2×12 + 3×6) = 15600 / 42 = 371.43; 500 / (15600/42) = 1.3462.
        response = await approver.get(f"{E}/kpis", params={"year": 2020})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["year"], body["as_of"], [t["town"] for t in body["towns"]]) == (2020, "2020-06-15", [TOWN])
        [area] = body["towns"]
        assert area == {
            "town": TOWN, "town_name": "前黄镇", "registered_population": 800, "dibao_households": 2, "dibao_members": 5,
            "coverage_rate": "0.63", "per_capita_benefit": "500.00", "per_capita_benefit_previous": "371.43",
            "benefit_growth": "1.3462", "growth_target": "1.12", "meets_growth_target": True,
        }
        assert body["district"] | {"town": TOWN, "town_name": "前黄镇"} == area  # a town user's district is its town
        assert body["district"]["town"] == "350505"

        # At the year's end (as of 2020-12-31): 2020 = (940×12 + 1560×9) / (24 + 27) = 25320 / 51
        # = 496.47; growth 1.3367; in December only H1 (2 members) is paid: 2 / 800 = 0.25 %.
        await set_clock("2021-01-10T09:00:00+08:00")
        body = (await approver.get(f"{E}/kpis", params={"year": 2020, "town": TOWN})).json()
        [area] = body["towns"]
        assert body["as_of"] == "2020-12-31"
        assert (area["dibao_households"], area["dibao_members"], area["coverage_rate"]) == (1, 2, "0.25")
        assert (area["per_capita_benefit"], area["per_capita_benefit_previous"], area["benefit_growth"], area["meets_growth_target"]) == (
            "496.47", "371.43", "1.3367", True)
        # 2019 against 2018 (nothing paid in 2018): no growth figure; no population recorded for 2019.
        body = (await approver.get(f"{E}/kpis", params={"year": 2019})).json()
        [area] = body["towns"]
        assert (body["as_of"], area["per_capita_benefit"], area["per_capita_benefit_previous"], area["benefit_growth"],
                area["meets_growth_target"], area["registered_population"], area["coverage_rate"]) == (
            "2019-12-31", "371.43", None, None, None, None, None)
        assert (area["dibao_households"], area["dibao_members"]) == (2, 5)

        # District roles see every town in region order; the town's figures are the same.
        body = (await api.get(f"{E}/kpis", params={"year": 2020})).json()
        assert [t["town"] for t in body["towns"]] == ["350505001", "350505100", "350505101", "350505102", "350505103", "350505105", "350505106"]
        assert next(t for t in body["towns"] if t["town"] == TOWN)["per_capita_benefit"] == "496.47"
        district = body["district"]
        assert district["dibao_members"] == sum(t["dibao_members"] for t in body["towns"]) and district["per_capita_benefit"] is not None
        assert (await clients["auditor"].get(f"{E}/kpis", params={"year": 2020, "town": TOWN})).json()["towns"][0]["dibao_members"] == 2

        # Scoping and bad input.
        other = await clients["caseworker_a"].get(f"{E}/kpis", params={"year": 2020, "town": TOWN})
        assert other.status_code == 404 and other.json()["code"] == "not_found"
        own = (await clients["caseworker_a"].get(f"{E}/kpis", params={"year": 2020})).json()
        assert [t["town"] for t in own["towns"]] == [TOWN_A]
        unknown = await approver.get(f"{E}/kpis", params={"year": 2020, "town": "350505999"})
        assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_town"
        assert (await approver.get(f"{E}/kpis")).status_code == 422
    finally:
        await set_clock("2020-06-15T09:00:00+08:00")
