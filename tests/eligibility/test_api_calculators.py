"""The calculators through the gateway: every acceptance case of dibao.json and resident-id.json,
and bad input answered 422 problem+json."""

from __future__ import annotations

import pytest

from tests.conftest import load_cases

DIBAO = "/api/v1/eligibility/dibao:evaluate"


def _dibao_body(case: dict) -> dict:
    body = {k: case[k] for k in ("assessed_on", "members", "income_12m", "deductions_12m")}
    if "member_conditions" in case:
        body["member_conditions"] = case["member_conditions"]
    return body


@pytest.mark.parametrize("case", load_cases("dibao.json"), ids=lambda c: f"{c['rule']}-{c['members']}-{c['income_12m']}")
async def test_dibao_case(api, case: dict) -> None:
    response = await api.post(DIBAO, json=_dibao_body(case))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["eligible"] is case["eligible"]
    assert result["monthly_benefit"] == case["monthly_benefit"]
    if "per_capita_monthly" in case:
        assert result["per_capita_monthly"] == case["per_capita_monthly"]
    assert result["single_person_inclusion"] is case.get("single_person_inclusion", False)
    trace = result["trace"]
    standard = "600.00" if case["assessed_on"].startswith("2019") else "720.00"
    assert {"name": "dibao_standard", "value": standard} .items() <= trace["parameters"][0].items()
    assert trace["parameters"][0]["version"] == f"dibao_standard@{case['assessed_on'][:4]}-01-01"
    assert "R-DB-2" in trace["rules"] and trace["figures"]["standard"] == standard


@pytest.mark.parametrize("case", load_cases("resident-id.json"), ids=lambda c: repr(c["input"]))
async def test_resident_id_case(api, case: dict) -> None:
    response = await api.post("/api/v1/eligibility/id-numbers:evaluate", json={"id_number": case["input"]})
    if case["valid"]:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["valid"] is True
        assert (body["normalised"], body["birth_date"], body["sex"]) == (case["normalised"], case["birth_date"], case["sex"])
    else:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == case["error"]


@pytest.mark.parametrize(("change", "code"), [
    ({"members": 0}, "greater_than_equal"),
    ({"income_12m": "-1.00"}, "negative"),
    ({"income_12m": "abc"}, "not_a_number"),
    ({"income_12m": "1e15"}, "not_a_number"),
    ({"income_12m": "1000000000000000"}, "too_large"),
    ({"income_12m": "10.001"}, "sub_fen"),
    ({"deductions_12m": {"disaster": "10.00"}}, "extra_forbidden"),
    ({"members": "3"}, "int_type"),
])
async def test_dibao_bad_input_is_422_problem(api, change: dict, code: str) -> None:
    body = {"assessed_on": "2020-06-15", "members": 3, "income_12m": "18000.00", "deductions_12m": {}} | change
    response = await api.post(DIBAO, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["errors"][0]["code"] == code


async def test_dibao_before_the_first_standard_is_a_clear_error(api) -> None:
    response = await api.post(DIBAO, json={"assessed_on": "2018-06-15", "members": 1, "income_12m": "0"})
    assert response.status_code == 422 and response.json()["code"] == "parameter_missing"


async def test_gradual_exit_through_the_calculator(api) -> None:
    response = await api.post(DIBAO, json={"assessed_on": "2020-06-15", "members": 2, "income_12m": "20000.00",
                                           "registered_poor": True, "previous_benefit": "400.00"})
    body = response.json()
    assert (body["outcome"], body["monthly_benefit"], body["gradual_exit_last_month"]) == ("gradual_exit", "400.00", "2021-06")
    assert "R-DB-6" in body["trace"]["rules"]


async def test_tekun_children_and_monitoring_calculators(api) -> None:
    tekun = (await api.post("/api/v1/eligibility/tekun:evaluate", json={
        "assessed_on": "2020-06-15", "birth_date": "1950-03-01", "supporters": [{"relation": "son", "able_to_support": False}]})).json()
    assert tekun["eligible"] is True and tekun["monthly_basic_living"] == "936.00" and tekun["incapacity"] == ["aged"]
    child = (await api.post("/api/v1/eligibility/children:evaluate", json={
        "assessed_on": "2020-06-15", "birth_date": "2012-01-01", "parents": [{"situation": "dead"}, {"situation": "imprisoned"}]})).json()
    assert child["category"] == "child_without_care"
    monitoring = (await api.post("/api/v1/eligibility/monitoring:evaluate", json={
        "assessed_on": "2020-06-15", "members": 2, "income_12m": "20000.00", "income_prev_12m": "40000.00",
        "income_prev_year": "40000.00", "ex_poor": True})).json()
    assert [f["code"] for f in monitoring["flags"]] == ["income_shock", "low_income"]
    assert monitoring["referrals"] == [{"kind": "assessment", "reasons": ["income_shock", "low_income"], "suggested_amount": None}]
