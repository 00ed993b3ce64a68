"""The subsidy service end to end, through the gateway: calculators and acceptance cases, CPI
intake, the roster fed by events, monthly runs (snapshot, cross-check, approval, bank file, bank
return, carry-over), never paying twice, safe-housing tranches, town scoping and bad input.

The roster is built only from events, so these tests publish eligibility's and care's events
(in the shapes of docs/events.md) on the real JetStream; everything else goes through the API.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from services.subsidy.runs.rules import mask_name
from shared.events.envelope import new_event
from shared.events.streams import ensure_stream
from tests.conftest import get_token, load_cases

TOWN = "350505105"  # 前黄镇 in the generated region list; the other town below is 350505100
OTHER_TOWN = "350505100"
VILLAGE = "350505105001"
CPI_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "cpi-national-2019-2020.csv"
D = Decimal


async def eventually(check, *, timeout: float = 20.0, interval: float = 0.2):
    """Poll ``check()`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true after {timeout}s")
        await asyncio.sleep(interval)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return body


class Producer:
    """Publishes eligibility's and care's events (the roster's only inputs) on JetStream."""

    def __init__(self, js) -> None:
        self.js = js
        self.tick = datetime(2020, 6, 15, 1, 0, tzinfo=UTC)
        self.tag = uuid.uuid4().hex[:6]

    def id(self, prefix: str) -> str:
        return f"{prefix}-{self.tag}-{uuid.uuid4().hex[:6]}"

    async def publish(self, event_type: str, data: dict[str, Any], subject: str) -> None:
        self.tick += timedelta(seconds=1)
        source = "/services/care" if event_type.startswith("care.") else "/services/eligibility"
        event = new_event(event_type, data, source=source, time=self.tick, subject=subject)
        await self.js.publish(event_type, event.to_json_bytes(), headers={"Nats-Msg-Id": event.id})

    async def household(self, members: list[dict[str, Any]], *, town: str = TOWN, registered_poor: bool = False) -> str:
        household_id = self.id("hh")
        full = [{"person_id": m.get("person_id") or self.id("p"), "name": "王小英", "relation": "head", "bank_account": None,
                 "long_term_care": False, "disability_grade": None, "deceased_on": None, **m} for m in members]
        for given, made in zip(members, full):
            given["person_id"] = made["person_id"]
        await self.publish("eligibility.household.registered", {
            "household_id": household_id, "town": town, "village": VILLAGE if town == TOWN else None,
            "registered_poor": registered_poor, "ex_poor": False, "edge": False, "lonely_elderly": False,
            "members": full,
        }, household_id)
        return household_id

    async def benefit(self, household_id: str, payee: str, category: str, amount: str, effective: str,
                      members: list[str] | None = None, town: str = TOWN, **extra: Any) -> str:
        benefit_id = self.id("b")
        await self.publish("eligibility.benefit.granted", {
            "benefit_id": benefit_id, "household_id": household_id, "person_id": payee, "category": category,
            "monthly_amount": amount, "effective_month": effective, "members": members or [payee], "town": town,
            "village": VILLAGE if town == TOWN else None, "decision_id": self.id("d"), "rule": "R-DB-4", **extra,
        }, benefit_id)
        return benefit_id


@pytest.fixture(scope="module")
async def producer(nats_server, suite):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js, "eligibility")
    await ensure_stream(js, "care")
    yield Producer(js)
    await nc.close()


@pytest.fixture(scope="module", autouse=True)
async def june_2020(set_clock):
    await set_clock("2020-06-15T09:00:00+08:00")


@pytest.fixture(scope="module")
async def system_clients(api, gateway_url):
    """Tokens of the statistics bureau's and the bank's systems (client credentials)."""
    tokens = {}
    for scope in ("statistics", "bank"):
        created = await api.post("/api/v1/admin/clients", json={"name": f"{scope} {uuid.uuid4().hex[:6]}", "scopes": [scope]})
        assert created.status_code == 201, created.text
        body = created.json()
        async with httpx.AsyncClient(base_url=gateway_url) as client:
            token = await client.post("/oauth/token", data={
                "grant_type": "client_credentials", "client_id": body["client_id"], "client_secret": body["client_secret"]})
        assert token.status_code == 200, token.text
        tokens[scope] = token.json()["access_token"]
    return tokens


@pytest.fixture(scope="module")
async def staff(api, gateway_url):
    """``await staff(role, town=...)`` → a bearer token of a new staff user of that role."""

    async def make(role: str, *, town: str | None = None) -> str:
        username = f"sub_{role}_{uuid.uuid4().hex[:8]}"
        password = "pw-" + uuid.uuid4().hex
        body = {"username": username, "password": password, "display_name": username, "roles": [role]}
        if town:
            body["town"] = town
        response = await api.post("/api/v1/admin/users", json=body)
        assert response.status_code == 201, response.text
        return await get_token(gateway_url, username, password)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def roster_person(api, person_id: str, check=lambda p: True) -> dict[str, Any]:
    async def seen():
        response = await api.get(f"/api/v1/subsidy/roster/persons/{person_id}")
        return response.json() if response.status_code == 200 and check(response.json()) else None
    return await eventually(seen)


async def checked_run(api, month: str, group: str) -> dict[str, Any]:
    created = await api.post("/api/v1/subsidy/runs", json={"month": month, "benefit_group": group})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    async def done():
        run = (await api.get(f"/api/v1/subsidy/runs/{run_id}")).json()
        return run if run["status"] == "checked" else None
    return await eventually(done)


async def lines_of(api, run_id: str, person_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/subsidy/runs/{run_id}/lines", params={"person_id": person_id})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def by_benefit(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["benefit"]: line for line in lines}


# --- calculators and acceptance cases ---------------------------------------------------------


@pytest.mark.parametrize("case", load_cases("two-subsidies.json"), ids=lambda c: f"{c['rule']}-{c.get('why', '')[:30]}")
async def test_two_subsidies_acceptance_cases(api, case) -> None:
    body = {"person": case["person"]}
    if "payment_month" in case:
        body["payment_month"] = case["payment_month"]
    response = await api.post("/api/v1/subsidy/disability-subsidies:evaluate", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["living"], result["nursing"]) == (case["living"], case["nursing"])
    grade = case["person"]["disability_grade"]
    assert result["amounts"]["living"] == ("80.00" if case["living"] else "0.00")
    assert result["amounts"]["nursing"] == ({1: "100.00", 2: "80.00"}.get(grade, "0.00") if case["nursing"] else "0.00")
    refused = {r["subsidy"] for r in result["reasons"]}
    assert refused == {s for s in ("living", "nursing") if not case[s]}
    assert {"R-DS-1", "R-DS-2"} <= set(result["trace"]["rule_ids"])
    assert {p["key"] for p in result["trace"]["parameters"]} >= {"disability_living_subsidy", "disability_nursing_subsidy"}


@pytest.mark.parametrize("case", load_cases("price-subsidy.json"), ids=lambda c: f"{c['rule']}-{c['month']}")
async def test_price_subsidy_acceptance_cases(api, case) -> None:
    body = {k: case[k] for k in ("month", "cpi_yoy_pct", "food_cpi_yoy_pct", "person_categories") if k in case}
    response = await api.post("/api/v1/subsidy/price-subsidy:evaluate", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["triggered"] is case["triggered"]
    assert result["amount_per_person"] == case["amount_per_person"]
    if "covers" in case:
        assert sorted(result["covers"]) == sorted(case["covers"])
    if "payments_for_person" in case:
        assert result["payments_for_person"] == case["payments_for_person"]
    used = {p["key"]: p for p in result["trace"]["parameters"]}
    assert used["dibao_standard"]["value"] == "720.00" and "version_id" in used["dibao_standard"]


async def test_disability_calculator_refuses_conflicting_care_input(api) -> None:
    response = await api.post("/api/v1/subsidy/disability-subsidies:evaluate", json={
        "person": {"in_dibao": True, "disability_grade": 1, "long_term_care": True, "care_months": 3}})
    problem(response, 422, "long_term_care_conflict")
    by_months = await api.post("/api/v1/subsidy/disability-subsidies:evaluate", json={
        "person": {"in_dibao": True, "disability_grade": 1, "care_months": 6}, "payment_month": "2020-06"})
    assert by_months.json()["nursing"] is True


async def test_benefit_calculators(api) -> None:
    dibao = (await api.post("/api/v1/subsidy/dibao-payment:evaluate",
                            json={"month": "2020-06", "members": 3, "net_income_12m": "10000.00"})).json()
    assert dibao["amount"] == "1326.67"  # 720 × 3 − 10000 / 12, rounded once
    assert dibao["trace"]["parameters"][0]["value"] == "720.00"
    old = (await api.post("/api/v1/subsidy/dibao-payment:evaluate",
                          json={"month": "2019-06", "members": 3, "net_income_12m": "10000.00"})).json()
    assert old["amount"] == "966.67"  # the 2019 standard, 600
    tekun = (await api.post("/api/v1/subsidy/tekun-support:evaluate",
                            json={"month": "2020-06", "self_care_level": "full_loss", "centralized": True})).json()
    assert tekun["parts"]["basic"] == "936.00" and tekun["amount"] == "1736.00"
    assert tekun["parts"]["district_pays"] == "864.00" and "R-TK-4" in tekun["trace"]["rule_ids"]
    orphan = (await api.post("/api/v1/subsidy/orphan-allowance:evaluate",
                             json={"month": "2021-03", "kind": "child_without_care", "already_received": "240.00"})).json()
    assert orphan["amount"] == "915.00"  # 1100 × 1.05 = 1155 − 240
    veteran = (await api.post("/api/v1/subsidy/veteran-allowance:evaluate", json={"month": "2022-01"})).json()
    assert veteran["amount"] == "1089.00"
    tranches = (await api.post("/api/v1/subsidy/housing-tranches:evaluate", json={"subsidy": "33333.33"})).json()
    assert tranches["tranches"] == {"started": "10000.00", "structure_done": "13333.33", "accepted": "10000.00"}


async def test_calculators_refuse_bad_input(api) -> None:
    problem(await api.post("/api/v1/subsidy/price-subsidy:evaluate",
                           json={"month": "2020-13", "cpi_yoy_pct": "4.3", "food_cpi_yoy_pct": "1"}), 422, "month_format")
    problem(await api.post("/api/v1/subsidy/price-subsidy:evaluate",
                           json={"month": "2020-03", "cpi_yoy_pct": "4.333", "food_cpi_yoy_pct": "1"}), 422, "invalid_percentage")
    problem(await api.post("/api/v1/subsidy/price-subsidy:evaluate",
                           json={"month": "2018-03", "cpi_yoy_pct": "4.3", "food_cpi_yoy_pct": "1"}), 422, "parameter_missing")
    problem(await api.post("/api/v1/subsidy/disability-subsidies:evaluate",
                           json={"person": {"disability_grade": 7}}), 422, "less_than_equal")


# --- CPI intake (statistics bureau) -----------------------------------------------------------

EXPECTED_2020 = {  # R-PS-1/2 from POLICY.md: standard 600 (2019) / 720 (2020) × CPI %, × 2 in 2020-03..06
    "2019-09": (True, "18.00"), "2020-01": (True, "38.88"), "2020-02": (True, "37.44"), "2020-03": (True, "61.92"),
    "2020-04": (True, "47.52"), "2020-05": (True, "34.56"), "2020-06": (True, "36.00"), "2020-07": (True, "19.44"),
    "2020-08": (True, "17.28"), "2020-09": (True, "12.24"), "2020-10": (False, "0.00"), "2020-11": (False, "0.00"),
    "2020-12": (False, "0.00"),
}


@pytest.fixture(scope="module")
async def cpi_loaded(api, system_clients):
    statistics = bearer(system_clients["statistics"])
    response = await api.post("/api/v1/subsidy/cpi-figures", content=CPI_CSV.read_bytes(),
                              headers={**statistics, "Content-Type": "text/csv", "Idempotency-Key": "cpi-2019-2020"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_cpi_csv_through_the_api_triggers_and_pays(api, cpi_loaded, system_clients) -> None:
    assert cpi_loaded["created"] + cpi_loaded["revised"] + cpi_loaded["unchanged"] == 13
    months = {}
    cursor = None
    while True:
        page = (await api.get("/api/v1/subsidy/cpi-figures", params={"limit": 5, **({"cursor": cursor} if cursor else {})})).json()
        months.update({m["month"]: m for m in page["items"]})
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {m: (months[m]["triggered"], months[m]["amount_per_person"]) for m in EXPECTED_2020} == EXPECTED_2020
    assert months["2020-05"]["triggered_by"] == ["food_cpi"] and months["2020-01"]["triggered_by"] == ["cpi", "food_cpi"]
    assert "orphan" in months["2020-04"]["covers"] and "orphan" not in months["2020-07"]["covers"]
    assert months["2020-10"]["checked"] is False
    # Released on the day received (Monday 2020-06-15): 20 working days, skipping the Dragon Boat
    # holidays (06-25, 06-26) and counting the make-up Sunday 06-28, end on 2020-07-14.
    assert months["2020-06"]["pay_by"] == "2020-07-14"
    # The same file again with the same key replays; without a key every month is unchanged.
    statistics = bearer(system_clients["statistics"])
    again = await api.post("/api/v1/subsidy/cpi-figures", content=CPI_CSV.read_bytes(),
                           headers={**statistics, "Content-Type": "text/csv"})
    assert again.json() == {"created": 0, "revised": 0, "unchanged": 13}


async def test_cpi_intake_is_all_or_nothing_and_needs_the_statistics_scope(api, cpi_loaded, system_clients, staff) -> None:
    statistics = bearer(system_clients["statistics"])
    bad = {"items": [{"month": "2021-01", "cpi_yoy_pct": "-0.3", "food_cpi_yoy_pct": "1.6"},
                     {"month": "2021-02", "cpi_yoy_pct": "abc", "food_cpi_yoy_pct": "1.6"}]}
    body = problem(await api.post("/api/v1/subsidy/cpi-figures", json=bad, headers=statistics), 422, "invalid_percentage")
    assert body["errors"][0]["field"] == "items.1.cpi_yoy_pct"
    assert (await api.get("/api/v1/subsidy/cpi-figures/2021-01")).status_code == 404
    caseworker = await staff("town_caseworker", town=TOWN)
    problem(await api.post("/api/v1/subsidy/cpi-figures", json={"items": [bad["items"][0]]}, headers=bearer(caseworker)),
            403, "forbidden")


# --- the roster and the monthly runs ------------------------------------------------------------


@pytest.fixture(scope="module")
async def people(producer, api):
    """Households on the roster for June 2020, each exercising one rule of the run."""
    p = producer
    s: dict[str, Any] = {}
    # H1: dibao decided in 2019 (standard 600) at 700.00 for 3 → re-based to 720: 1060.00 (R-DB-4).
    s["a"] = {"name": "王小英", "bank_account": "6222020000000001", "disability_grade": 2, "long_term_care": True}
    s["b"] = {"name": "王大", "bank_account": "6222020000000002"}
    s["c"] = {"name": "王小", "bank_account": "6222020000000003", "child_without_care": True, "birth_date": "2012-03-01",
              "disability_grade": 1, "long_term_care": True}
    s["h1"] = await p.household([s["a"], s["b"], s["c"]], registered_poor=True)
    s["dibao1"] = await p.benefit(s["h1"], s["a"]["person_id"], "dibao", "700.00", "2019-07",
                                  [s["a"]["person_id"], s["b"]["person_id"], s["c"]["person_id"]])
    s["cwc"] = await p.benefit(s["h1"], s["c"]["person_id"], "child_without_care", "1100.00", "2020-01")
    # H2: single-person inclusion with its income: 720 − 2400 / 12 = 520.00 (R-DB-5).
    s["e"] = {"name": "李四", "bank_account": "6222020000000005"}
    s["h2"] = await p.household([s["e"]])
    await p.benefit(s["h2"], s["e"]["person_id"], "dibao_single_person", "520.00", "2020-03", net_income_12m="2400.00")
    # H3: tekun, full loss of self-care (care's event) → 936.00 + 800.00; disabled: no two subsidies.
    s["t"] = {"name": "张三丰", "bank_account": "6222020000000007", "disability_grade": 1, "long_term_care": True}
    s["h3"] = await p.household([s["t"]])
    await p.benefit(s["h3"], s["t"]["person_id"], "tekun", "936.00", "2020-01")
    await p.publish("care.selfcare.assessed", {"person_id": s["t"]["person_id"], "level": "full_loss",
                                               "assessed_on": "2020-05-20", "assessment_id": p.id("as")}, s["t"]["person_id"])
    # ... placed in a care home in May (centralized support): the home gets the fee shortfall (R-TK-4).
    s["home"] = p.id("home")
    placement = p.id("pl")
    await p.publish("care.placement.made", {
        "care_person_id": p.id("cp"), "person_id": s["t"]["person_id"], "household_id": s["h3"], "town": TOWN,
        "placement_id": placement, "home_id": s["home"], "home_name": "前黄敬老院", "home_town": TOWN,
        "bed_type": "nursing", "started_on": "2020-05-10", "level": "full_loss"}, placement)
    home = await api.put(f"/api/v1/subsidy/care-homes/{s['home']}/account",
                         json={"home_name": "前黄敬老院", "bank_account": "6222020000009999"})
    assert home.status_code == 200 and home.json()["bank_account"].endswith("9999"), home.text
    # H4: the payee died in April → dropped (deceased). H5: benefit ended in May → dropped (benefit_ended).
    s["dead"] = {"name": "赵五", "bank_account": "6222020000000009"}
    s["h4"] = await p.household([s["dead"]])
    await p.benefit(s["h4"], s["dead"]["person_id"], "dibao", "300.00", "2020-01")
    await p.publish("eligibility.person.deceased", {"person_id": s["dead"]["person_id"], "household_id": s["h4"],
                                                    "died_on": "2020-04-10", "town": TOWN}, s["dead"]["person_id"])
    s["ended"] = {"name": "钱六", "bank_account": "6222020000000010"}
    s["h5"] = await p.household([s["ended"]])
    s["ended_benefit"] = await p.benefit(s["h5"], s["ended"]["person_id"], "dibao", "300.00", "2020-01")
    await p.publish("eligibility.benefit.ended", {"benefit_id": s["ended_benefit"], "household_id": s["h5"],
                                                  "person_id": s["ended"]["person_id"], "category": "dibao",
                                                  "last_month": "2020-05", "reason": "income_above_standard"}, s["ended_benefit"])
    # H6: no bank account → dropped. H7: gradual exit keeps 300.00 (R-DB-6).
    s["noacct"] = {"name": "孙七"}
    s["h6"] = await p.household([s["noacct"]])
    await p.benefit(s["h6"], s["noacct"]["person_id"], "dibao", "200.00", "2020-01")
    s["grad"] = {"name": "周八", "bank_account": "6222020000000012"}
    s["h7"] = await p.household([s["grad"]], registered_poor=True)
    await p.benefit(s["h7"], s["grad"]["person_id"], "dibao", "300.00", "2020-04", rule="R-DB-6")
    # H8: dies after the snapshot (reported before the bank file). H9: in another town.
    s["late"] = {"name": "吴九", "bank_account": "6222020000000013"}
    s["h8"] = await p.household([s["late"]])
    await p.benefit(s["h8"], s["late"]["person_id"], "dibao", "400.00", "2020-01")
    s["far"] = {"name": "郑十", "bank_account": "6222020000000014"}
    s["h9"] = await p.household([s["far"]], town=OTHER_TOWN)
    await p.benefit(s["h9"], s["far"]["person_id"], "dibao", "400.00", "2020-01", town=OTHER_TOWN)
    # A veteran who is also a dibao member (price subsidy: one payment).
    s["vet"] = {"name": "陈老兵", "bank_account": "6222020000000015", "revolutionary_veteran": True}
    s["h10"] = await p.household([s["vet"]])
    await p.benefit(s["h10"], s["vet"]["person_id"], "dibao", "100.00", "2020-01")
    await p.benefit(s["h10"], s["vet"]["person_id"], "revolutionary_veteran", "900.00", "2020-01")

    await roster_person(api, s["t"]["person_id"], lambda r: r["self_care_level"] == "full_loss")
    await roster_person(api, s["dead"]["person_id"], lambda r: r["deceased_on"] == "2020-04-10")
    await roster_person(api, s["ended"]["person_id"], lambda r: r["benefits"] and r["benefits"][0]["last_month"] == "2020-05")
    await roster_person(api, s["vet"]["person_id"], lambda r: len(r["benefits"]) == 2)
    await roster_person(api, s["c"]["person_id"], lambda r: len(r["benefits"]) == 2)
    for key in ("e", "noacct", "grad", "late", "far"):
        await roster_person(api, s[key]["person_id"], lambda r: len(r["benefits"]) == 1)
    return s


@pytest.fixture(scope="module")
async def june_assistance(api, people):
    return await checked_run(api, "2020-06", "assistance")


async def test_roster_projects_the_events(api, people) -> None:
    record = await roster_person(api, people["a"]["person_id"])
    assert record["town"] == TOWN and record["bank_account_on_file"] is True
    dibao = next(b for b in record["benefits"] if b["category"] == "dibao")
    assert (dibao["members_count"], dibao["amount_basis"], dibao["effective_month"]) == (3, "gap", "2019-07")
    status = (await api.get("/api/v1/subsidy/roster")).json()
    assert status["counts"]["persons"] >= 12 and status["active_benefits"]["dibao"] >= 7


async def test_snapshot_pays_each_rule_and_drops_each_mismatch(api, people, june_assistance) -> None:
    run = june_assistance
    assert run["status"] == "checked" and run["code"] == "2020-06-assistance"
    figures = run["trace"]["figures"]
    assert (figures["std"], figures["tekun_basic"], figures["care_full_loss"]) == ("720.00", "936.00", "800.00")
    rid = run["id"]
    a = by_benefit(await lines_of(api, rid, people["a"]["person_id"]))
    assert a["dibao"]["amount"] == "1060.00" and a["dibao"]["status"] == "payable"
    assert a["dibao"]["payee_name"] == "王*英" and a["dibao"]["bank_account"].endswith("0001")
    assert by_benefit(await lines_of(api, rid, people["e"]["person_id"]))["dibao_single_person"]["amount"] == "520.00"
    tekun = by_benefit(await lines_of(api, rid, people["t"]["person_id"]))
    assert (tekun["tekun_basic"]["amount"], tekun["tekun_care"]["amount"]) == ("936.00", "800.00")
    # R-TK-4: fees 400 + 1000 + 1200 (full loss) − entitlements 936 + 800 = 864.00, paid to the home.
    fee = tekun["centralized_support_fee"]
    assert (fee["amount"], fee["status"], fee["payee_id"], fee["payee_name"]) == ("864.00", "payable", people["home"], "前***院")
    assert by_benefit(await lines_of(api, rid, people["grad"]["person_id"]))["dibao"]["amount"] == "300.00"
    for key, reason in (("dead", "deceased"), ("ended", "benefit_ended"), ("noacct", "no_bank_account")):
        line = by_benefit(await lines_of(api, rid, people[key]["person_id"]))["dibao"]
        assert (line["status"], line["drop_reason"], line["dropped_stage"]) == ("dropped", reason, "snapshot"), key
        assert line["drop_rule"] in ("R-DS-2", "R-DS-3")
    report = (await api.get(f"/api/v1/subsidy/runs/{rid}/report")).json()
    reasons = {d["reason"] for d in report["dropped"]}
    assert {"deceased", "benefit_ended", "no_bank_account"} <= reasons
    assert report["run"]["lines_dropped"] == sum(d["lines"] for d in report["dropped"])
    assert report["run"]["status_counts"]["payable"] == run["lines_payable"]


async def test_a_second_run_for_the_month_is_refused(api, june_assistance) -> None:
    again = await api.post("/api/v1/subsidy/runs", json={"month": "2020-06", "benefit_group": "assistance"})
    assert problem(again, 409, "run_exists")["run_id"] == june_assistance["id"]


async def test_concurrent_run_creation_makes_one_run(api, people) -> None:
    responses = await asyncio.gather(*[
        api.post("/api/v1/subsidy/runs", json={"month": "2020-05", "benefit_group": "veterans"}) for _ in range(8)])
    created = [r for r in responses if r.status_code == 201]
    assert len(created) == 1, [r.text for r in responses]
    run_id = created[0].json()["id"]
    assert all(r.status_code == 409 and r.json()["run_id"] == run_id for r in responses if r.status_code != 201)
    listed = (await api.get("/api/v1/subsidy/runs", params={"month": "2020-05", "benefit_group": "veterans"})).json()
    assert [r["id"] for r in listed["items"]] == [run_id]


async def test_a_retried_creation_with_its_key_replays(api, people) -> None:
    key = {"Idempotency-Key": f"veterans-2020-04-{uuid.uuid4().hex}"}
    first = await api.post("/api/v1/subsidy/runs", json={"month": "2020-04", "benefit_group": "veterans"}, headers=key)
    retry = await api.post("/api/v1/subsidy/runs", json={"month": "2020-04", "benefit_group": "veterans"}, headers=key)
    assert first.status_code == retry.status_code == 201
    assert first.json()["id"] == retry.json()["id"]


async def test_approval_death_before_the_bank_file_and_the_bank_cycle(api, people, june_assistance, producer,
                                                                       system_clients) -> None:
    rid = june_assistance["id"]
    problem(await api.post(f"/api/v1/subsidy/runs/{rid}/bank-file"), 409, "run_not_approved")
    approved = await api.post(f"/api/v1/subsidy/runs/{rid}:approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert (await api.post(f"/api/v1/subsidy/runs/{rid}:approve")).json()["status"] == "approved"  # harmless repeat
    # A death reported between the snapshot and the bank file drops the line.
    late = people["late"]["person_id"]
    assert by_benefit(await lines_of(api, rid, late))["dibao"]["status"] == "payable"
    await producer.publish("eligibility.person.deceased", {"person_id": late, "household_id": people["h8"],
                                                           "died_on": "2020-05-28", "town": TOWN}, late)
    await roster_person(api, late, lambda r: r["deceased_on"] == "2020-05-28")
    issued = await api.post(f"/api/v1/subsidy/runs/{rid}/bank-file")
    assert issued.status_code == 200 and issued.json()["status"] == "issued"
    line = by_benefit(await lines_of(api, rid, late))["dibao"]
    assert (line["status"], line["drop_reason"], line["dropped_stage"]) == ("dropped", "deceased", "bank_file")
    run = issued.json()

    # The bank file: header, masked names, every payable line once, the control total.
    bank = bearer(system_clients["bank"])
    download = await api.get(f"/api/v1/subsidy/runs/{rid}/bank-file", headers=bank)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["account", "name", "amount", "reference"]
    body, control = rows[1:-1], rows[-1]
    assert control == ["TOTAL", str(run["bank_count"]), run["bank_total"], "2020-06-assistance"]
    assert len(body) == run["bank_count"] and sum(D(r[2]) for r in body) == D(run["bank_total"])
    assert len({r[3] for r in body}) == len(body)
    mine = {r[3]: r for r in body}
    a_line = by_benefit(await lines_of(api, rid, people["a"]["person_id"]))["dibao"]
    assert mine[a_line["reference"]] == ["6222020000000001", mask_name("王小英"), "1060.00", a_line["reference"]]
    assert all("*" in r[1] or r[1] == "" for r in body)
    assert "6222020000000013" not in download.text  # the late death is not in the file
    assert (await api.get(f"/api/v1/subsidy/runs/{rid}/bank-file", headers=bank)).text == download.text

    # A return with an unknown reference is refused whole and changes nothing.
    e_line = by_benefit(await lines_of(api, rid, people["e"]["person_id"]))["dibao_single_person"]
    unknown = await api.post("/api/v1/subsidy/bank-returns", headers=bank, json={"rows": [
        {"reference": a_line["reference"], "status": "paid"}, {"reference": "QGS999999999999", "status": "paid"},
        {"reference": "NOT-OURS", "status": "failed", "reason": "?"}]})
    refused = problem(unknown, 422, "bank_return_rejected")
    assert sorted(refused["unknown_references"]) == ["NOT-OURS", "QGS999999999999"]
    assert by_benefit(await lines_of(api, rid, people["a"]["person_id"]))["dibao"]["status"] == "payable"
    # The real return (CSV): paid and failed; sent again it changes nothing.
    text = f"reference,status,reason\n{a_line['reference']},paid,\n{e_line['reference']},failed,账户已销户\n"
    accepted = await api.post("/api/v1/subsidy/bank-returns", content=text.encode(), headers={**bank, "Content-Type": "text/csv"})
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["paid"], accepted.json()["failed"]) == (1, 1)
    again = await api.post("/api/v1/subsidy/bank-returns", content=text.encode(), headers={**bank, "Content-Type": "text/csv"})
    assert (again.json()["paid"], again.json()["unchanged"]) == (0, 2)
    contradiction = await api.post("/api/v1/subsidy/bank-returns", headers=bank,
                                   json={"rows": [{"reference": a_line["reference"], "status": "failed", "reason": "x"}]})
    problem(contradiction, 422, "bank_return_rejected")
    assert by_benefit(await lines_of(api, rid, people["a"]["person_id"]))["dibao"]["status"] == "paid"
    failed = by_benefit(await lines_of(api, rid, people["e"]["person_id"]))["dibao_single_person"]
    assert (failed["status"], failed["failure_reason"]) == ("failed", "账户已销户")

    # July: the failed June line is carried in (same month and amount), next to July's own line;
    # nothing paid in June is paid again.
    july = await checked_run(api, "2020-07", "assistance")
    e_lines = await lines_of(api, july["id"], people["e"]["person_id"])
    assert sorted((line["month"], line["amount"], line["status"]) for line in e_lines) == [
        ("2020-06", "520.00", "payable"), ("2020-07", "520.00", "payable")]
    carried = next(line for line in e_lines if line["month"] == "2020-06")
    assert carried["carried_from_line_id"] == failed["id"] and july["lines_carried_in"] >= 1
    a_july = await lines_of(api, july["id"], people["a"]["person_id"])
    assert [(line["month"], line["status"]) for line in a_july] == [("2020-07", "payable")]
    assert by_benefit(await lines_of(api, rid, people["e"]["person_id"]))["dibao_single_person"]["carried_to_run_id"] == july["id"]


async def test_disability_run_compares_with_the_rosters(api, people) -> None:
    run = await checked_run(api, "2020-06", "disability")
    a = by_benefit(await lines_of(api, run["id"], people["a"]["person_id"]))
    assert (a["disability_living"]["amount"], a["disability_nursing"]["amount"]) == ("80.00", "80.00")
    assert a["disability_living"]["status"] == a["disability_nursing"]["status"] == "payable"
    tekun = by_benefit(await lines_of(api, run["id"], people["t"]["person_id"]))
    assert "disability_living" not in tekun  # not in a dibao household
    assert (tekun["disability_nursing"]["status"], tekun["disability_nursing"]["drop_reason"]) == ("dropped", "tekun")
    child = by_benefit(await lines_of(api, run["id"], people["c"]["person_id"]))
    assert child["disability_living"]["drop_reason"] == "orphan_allowance"
    assert (child["disability_nursing"]["status"], child["disability_nursing"]["amount"]) == ("payable", "100.00")


async def test_children_run_pays_the_top_up(api, people) -> None:
    run = await checked_run(api, "2020-06", "children")
    line = by_benefit(await lines_of(api, run["id"], people["c"]["person_id"]))["child_without_care"]
    # R-OR-2: dispersed standard 1100.00 − the child's dibao share round(1060.00 / 3) = 353.33
    assert (line["amount"], line["status"]) == ("746.67", "payable")


async def test_price_run_pays_each_person_once(api, people, cpi_loaded, set_clock) -> None:
    run = await checked_run(api, "2020-04", "price")
    assert run["trace"]["figures"]["price_amount"] == "47.52"
    for key in ("a", "b", "c", "vet", "t"):
        lines = await lines_of(api, run["id"], people[key]["person_id"])
        assert [(line["benefit"], line["amount"], line["status"]) for line in lines] == [("price_subsidy", "47.52", "payable")], key
    b_line = (await lines_of(api, run["id"], people["b"]["person_id"]))[0]
    assert b_line["payee_id"] == people["a"]["person_id"]  # paid into the household's account
    problem(await api.post("/api/v1/subsidy/runs", json={"month": "2019-02", "benefit_group": "price"}), 409, "cpi_missing")
    await set_clock("2020-12-20T09:00:00+08:00")
    try:
        problem(await api.post("/api/v1/subsidy/runs", json={"month": "2020-10", "benefit_group": "price"}), 409, "cpi_not_checked")
        problem(await api.post("/api/v1/subsidy/runs", json={"month": "2020-11", "benefit_group": "price"}), 409, "price_not_triggered")
    finally:
        await set_clock("2020-06-15T09:00:00+08:00")


async def test_housing_project_tranche_is_paid_by_the_housing_run(api, people, staff) -> None:
    approver = await staff("town_approver", town=TOWN)
    body = {"household_id": people["h1"], "person_id": people["a"]["person_id"], "town": TOWN, "village": VILLAGE,
            "subsidy": "50000.00", "planned_on": "2020-05-01"}
    created = await api.post("/api/v1/subsidy/housing-projects", json=body, headers=bearer(approver))
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    problem(await api.post("/api/v1/subsidy/housing-projects", json=body), 409, "project_exists")
    out_of_order = await api.post(f"/api/v1/subsidy/housing-projects/{pid}/milestones",
                                  json={"milestone": "accepted", "reached_on": "2020-06-01"}, headers=bearer(approver))
    problem(out_of_order, 409, "milestone_out_of_order")
    started = await api.post(f"/api/v1/subsidy/housing-projects/{pid}/milestones",
                             json={"milestone": "started", "reached_on": "2020-06-02"}, headers=bearer(approver))
    assert started.status_code == 201 and started.json()["milestones"][0]["amount"] == "15000.00"
    run = await checked_run(api, "2020-06", "housing")
    line = by_benefit(await lines_of(api, run["id"], people["a"]["person_id"]))["housing_started"]
    assert (line["amount"], line["status"], line["benefit_id"]) == ("15000.00", "payable", pid)
    kpi = (await api.get("/api/v1/subsidy/housing-projects/kpi")).json()
    assert kpi["target"] == 50 and kpi["by_stage"]["started"] >= 1
    problem(await api.post("/api/v1/subsidy/housing-projects", json={**body, "household_id": people["h3"], "subsidy": "0"}),
            422, "not_positive")
    problem(await api.post("/api/v1/subsidy/housing-projects", json={**body, "household_id": people["h5"]}), 422, "not_dibao_or_tekun")


async def test_town_users_see_only_their_town(api, people, june_assistance, staff) -> None:
    other = await staff("town_caseworker", town=OTHER_TOWN)
    own = await staff("town_caseworker", town=TOWN)
    rid = june_assistance["id"]
    mine = await api.get(f"/api/v1/subsidy/runs/{rid}/lines", params={"person_id": people["a"]["person_id"]}, headers=bearer(own))
    assert len(mine.json()["items"]) == 1
    hidden = await api.get(f"/api/v1/subsidy/runs/{rid}/lines", params={"person_id": people["a"]["person_id"]}, headers=bearer(other))
    assert hidden.json()["items"] == []
    problem(await api.get(f"/api/v1/subsidy/roster/persons/{people['a']['person_id']}", headers=bearer(other)), 404, "not_found")
    problem(await api.post("/api/v1/subsidy/runs", json={"month": "2020-06", "benefit_group": "children"}, headers=bearer(own)),
            403, "forbidden")
    problem(await api.get(f"/api/v1/subsidy/runs/{rid}/bank-file", headers=bearer(own)), 403, "forbidden")


async def test_reads_of_persons_are_audited_and_queryable_by_the_auditor(api, people, june_assistance, staff) -> None:
    """A caseworker's reads of a roster person and of payment lines are in ``GET
    /subsidy/audit-log``: who, which person, through which client, the path and request id;
    typed-in filter text stays out. Only the auditor and the district administrator may query."""
    own, auditor = await staff("town_caseworker", town=TOWN), await staff("auditor")
    person, rid = people["a"]["person_id"], june_assistance["id"]
    ua = {**bearer(own), "User-Agent": "subsidy-audit-test"}
    roster = await api.get(f"/api/v1/subsidy/roster/persons/{person}", headers=ua)
    lines = await api.get(f"/api/v1/subsidy/runs/{rid}/lines", params={"person_id": person}, headers=ua)
    assert roster.status_code == lines.status_code == 200 and len(lines.json()["items"]) == 1
    typed = "35050519880808001X"  # an ID number typed into a filter
    assert (await api.get(f"/api/v1/subsidy/runs/{rid}/lines", params={"reason": typed}, headers=ua)).json()["items"] == []

    response = await api.get("/api/v1/subsidy/audit-log", params={"record_id": person, "limit": 500}, headers=bearer(auditor))
    assert response.status_code == 200, response.text
    entries = [e for e in response.json()["items"] if e["client"] == "subsidy-audit-test"]
    assert [e["action"] for e in entries] == ["subsidy.run.lines.read", "subsidy.roster.person.read"]  # newest first
    read, listed = entries[1], entries[0]
    assert read["actor"].startswith("sub_town_caseworker_") and read["roles"] == ["town_caseworker"]
    assert (read["town"], read["record_type"], read["record_id"]) == (TOWN, "person", person)
    assert read["path"] == f"/api/v1/subsidy/roster/persons/{person}"
    assert read["request_id"] == roster.headers["x-request-id"]
    assert (listed["path"], listed["resource"], listed["request_id"]) == (
        f"/api/v1/subsidy/runs/{rid}/lines", f"run:{rid}", lines.headers["x-request-id"])
    mine = (await api.get("/api/v1/subsidy/audit-log", params={"actor": read["actor"]}, headers=bearer(auditor))).json()["items"]
    assert [e["action"] for e in mine] == ["subsidy.run.lines.read"] * 2 + ["subsidy.roster.person.read"]
    upper = (await api.get("/api/v1/subsidy/audit-log", params={"actor": read["actor"].upper()}, headers=bearer(auditor))).json()["items"]
    assert [e["id"] for e in upper] == [e["id"] for e in mine]  # the filter ignores case, as usernames do
    assert (mine[0]["record_id"], "reason=other" in mine[0]["detail"]) == (None, True)
    assert typed not in str(mine)

    problem(await api.get("/api/v1/subsidy/audit-log", headers=bearer(own)), 403, "forbidden")
    problem(await api.get("/api/v1/subsidy/audit-log", params={"cursor": "WyJ4Il0"}, headers=bearer(auditor)), 422, "invalid_cursor")
    problem(await api.get("/api/v1/subsidy/audit-log", params={"to": "2020-06-01T00:00:00"}, headers=bearer(auditor)), 422, "timezone_aware")
    problem(await api.get("/api/v1/subsidy/audit-log", params={"from": "2100-01-01T00:00:00Z"}, headers=bearer(auditor)), 422, "out_of_range")
    assert (await api.get("/api/v1/subsidy/audit-log", params={"action": "subsidy.roster.person.read", "limit": 1})).status_code == 200


async def test_bad_input_is_refused_and_nothing_stored(api, system_clients) -> None:
    before = (await api.get("/api/v1/subsidy/runs", params={"limit": 500})).json()["items"]
    problem(await api.post("/api/v1/subsidy/runs", json={"month": "2020-13", "benefit_group": "assistance"}), 422, "month_format")
    problem(await api.post("/api/v1/subsidy/runs", json={"month": "2020-03", "benefit_group": "lottery"}), 422, "literal_error")
    problem(await api.post("/api/v1/subsidy/runs", json={"month": "2020-09", "benefit_group": "assistance"}), 422, "month_in_future")
    problem(await api.post("/api/v1/subsidy/runs", json={"month": "2020-03"}), 422, "missing")
    after = (await api.get("/api/v1/subsidy/runs", params={"limit": 500})).json()["items"]
    assert len(after) == len(before)
    bank = bearer(system_clients["bank"])
    problem(await api.post("/api/v1/subsidy/bank-returns", headers=bank,
                           json={"rows": [{"reference": "QGS000000000001", "status": "bounced"}]}), 422, "literal_error")
    problem(await api.post("/api/v1/subsidy/bank-returns", headers=bank,
                           json={"rows": [{"reference": "QGS000000000001", "status": "failed"}]}), 422, "value_error")
    problem(await api.post("/api/v1/subsidy/bank-returns", headers={**bank, "Content-Type": "text/csv"},
                           content=b"ref;status\n"), 422, "csv_header")
    problem(await api.post("/api/v1/subsidy/parameters/dibao_standard/versions",
                           json={"valid_from": "2021-01-01", "value": "800.001"}), 422, "invalid_parameter_value")
    versions = (await api.get("/api/v1/subsidy/parameters/dibao_standard")).json()["versions"]
    assert [v["value"] for v in versions] == ["600.00", "720.00"]


async def test_runs_listed_by_year(api) -> None:
    """``GET /runs?year=``: the runs whose month lies in the year, combined with the other
    filters. Disability runs of 2019 are this test's alone, so that list is exact."""
    december, january = await checked_run(api, "2019-12", "disability"), await checked_run(api, "2020-01", "disability")

    async def listed(**params: str) -> list[dict[str, Any]]:
        response = await api.get("/api/v1/subsidy/runs", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    assert [r["id"] for r in await listed(year="2019", benefit_group="disability")] == [december["id"]]
    runs_2020 = await listed(year="2020", benefit_group="disability")
    assert january["id"] in {r["id"] for r in runs_2020} and december["id"] not in {r["id"] for r in runs_2020}
    assert runs_2020 and all(r["month"].startswith("2020-") and r["benefit_group"] == "disability" for r in runs_2020)
    assert [r["id"] for r in await listed(year="2020", month="2020-01", benefit_group="disability")] == [january["id"]]
    assert await listed(year="2020", month="2019-12") == []
    for value, code in (("abc", "int_parsing"), ("1800", "greater_than_equal"), ("2101", "less_than_equal")):
        body = problem(await api.get("/api/v1/subsidy/runs", params={"year": value}), 422, code)
        assert [e["field"] for e in body["errors"]] == ["year"]


async def test_parameters_are_versioned_and_used_by_date(api) -> None:
    listed = (await api.get("/api/v1/subsidy/parameters", params={"on": "2020-04-15"})).json()["items"]
    multiplier = next(p for p in listed if p["key"] == "price_multiplier")
    assert multiplier["in_force"]["value"] == "2" and len(multiplier["versions"]) == 3
    added = await api.post("/api/v1/subsidy/parameters/price_min_amount/versions",
                           json={"valid_from": "2021-01-01", "value": "5.00", "note": "test"})
    assert added.status_code == 201, added.text
    versions = added.json()["versions"]
    assert [(v["valid_from"], v["valid_to"], v["value"]) for v in versions] == [
        ("2019-01-01", "2020-12-31", "0.00"), ("2021-01-01", None, "5.00")]
    problem(await api.post("/api/v1/subsidy/parameters/price_min_amount/versions",
                           json={"valid_from": "2021-01-01", "value": "6.00"}), 409, "parameter_version_exists")
    # A triggered 2021 month with a negative CPI (food-triggered) now pays the floor of 5.00.
    floor = (await api.post("/api/v1/subsidy/price-subsidy:evaluate",
                            json={"month": "2021-02", "cpi_yoy_pct": "-0.2", "food_cpi_yoy_pct": "6.5"})).json()
    assert (floor["triggered"], floor["amount_per_person"]) == (True, "5.00")


async def test_roster_rebuild_replays_the_streams(api, people) -> None:
    before = (await api.get("/api/v1/subsidy/roster")).json()
    rebuilt = await api.post("/api/v1/subsidy/roster:rebuild")
    assert rebuilt.status_code == 202, rebuilt.text
    assert rebuilt.json()["rebuilding"] is True

    async def caught_up():
        status = (await api.get("/api/v1/subsidy/roster")).json()
        return status if status["counts"] == before["counts"] and status["lag"] and not any(status["lag"].values()) else None
    await eventually(caught_up, timeout=30)
    record = await roster_person(api, people["t"]["person_id"], lambda r: r["self_care_level"] == "full_loss")
    assert record["benefits"][0]["category"] == "tekun"
    dead = await roster_person(api, people["dead"]["person_id"])
    assert dead["deceased_on"] == "2020-04-10"
    # Runs are allowed again once the replay has caught up.
    run = await checked_run(api, "2020-06", "veterans")
    line = by_benefit(await lines_of(api, run["id"], people["vet"]["person_id"]))["revolutionary_veteran"]
    assert (line["amount"], line["status"]) == ("900.00", "payable")
