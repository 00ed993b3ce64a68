"""The gateway's own reports through the real suite (``/api/v1/reports``): the KPI report merged
from the five services' KPI endpoints (JSON and CSV, town scoping, a service that does not
answer) and the household assistance chain projected from their events.

Everything happens in 2028, a year no other test uses, in 峰尾镇 (350505103): a household is
registered and gets dibao; its wish is published, pledged, delivered and confirmed; it gets a
temporary-relief payment; its March dibao is paid by a payment run and the bank's return. A
non-local applicant's emergency case in the same town is left unpaid until its deadline passes.
All of it through the gateway's API, as the towns, donors and the bank would do it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from deploy.embedded import free_port
from deploy.suite import SERVICES
from shared.ids import make_id_number
from tests.conftest import get_token
from tests.eligibility.conftest import household, member

YEAR = 2028
TOWN, TOWN_NAME = "350505103", "峰尾镇"  # 14 villages
VILLAGE = "350505103001"
OTHER_TOWN = "350505102"
REPORTS = "/api/v1/reports"
KPI_IDS = ["dibao_coverage", "benefit_growth", "relief_sla_compliance", "reserve_fund_usage", "centralized_rate",
           "houses_accepted", "visits_on_time", "wishes_published", "wishes_adopted", "wishes_fulfilled"]
HEAD_ACCOUNT = "6222020000280001"
T1 = "2028-03-01T09:00:00+08:00"  # household registered
T1B = "2028-03-01T10:00:00+08:00"  # dibao recorded (roster entry), from March
T2 = "2028-03-02T09:00:00+08:00"  # wish entered and published
T3 = "2028-03-03T09:00:00+08:00"  # wish pledged in full and delivered
T4 = "2028-03-06T09:00:00+08:00"  # relief cases accepted (Monday)
T4B = "2028-03-06T10:00:00+08:00"  # approved
T4C = "2028-03-06T11:00:00+08:00"  # paid
T5 = "2028-03-10T09:00:00+08:00"  # March payment run, bank return
T6 = "2028-03-13T09:00:00+08:00"  # wish confirmed
T7 = "2028-03-20T09:00:00+08:00"  # the unpaid emergency case's deadline (13 March, 24:00) has passed


# --- session fixtures of this module: the real suite's gateway ------------------------------------
# (tests/gateway/conftest.py's ``api`` and ``admin_token`` are the stand-in stage's.)


@pytest.fixture(scope="session")
async def admin_token(gateway_url: str) -> str:
    return await get_token(gateway_url, "admin", "admin-test-password")


@pytest.fixture(scope="session")
async def api(gateway_url: str, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30,
                                 headers={"Authorization": f"Bearer {admin_token}"}) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true after {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    if code is not None:
        assert body["code"] == code, body
    return body


class People:
    """Clients of the users acting here, each signed in through the gateway."""

    def __init__(self, gateway_url: str, api: httpx.AsyncClient, make_user) -> None:  # noqa: ANN001
        self.gateway_url, self.api, self.make_user = gateway_url, api, make_user
        self.clients: dict[str, httpx.AsyncClient] = {}

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway_url, timeout=30, headers={"Authorization": f"Bearer {token}"})

    async def get(self, key: str, role: str, **where: str) -> httpx.AsyncClient:
        if key not in self.clients:
            _, token = await self.make_user(role, **where)
            self.clients[key] = self.client(token)
        return self.clients[key]

    async def donor(self) -> httpx.AsyncClient:
        if "donor" not in self.clients:
            username, password = f"donor_{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
            async with httpx.AsyncClient(base_url=self.gateway_url, timeout=30) as public:
                made = await public.post("/oauth/register", json={"username": username, "password": password,
                                                                   "display_name": "爱心人士"})
                assert made.status_code == 201, made.text
            self.clients["donor"] = self.client(await get_token(self.gateway_url, username, password))
        return self.clients["donor"]

    async def bank(self) -> httpx.AsyncClient:
        if "bank" not in self.clients:
            created = await self.api.post("/api/v1/admin/clients", json={"name": f"bank {uuid.uuid4().hex[:6]}", "scopes": ["bank"]})
            assert created.status_code == 201, created.text
            body = created.json()
            async with httpx.AsyncClient(base_url=self.gateway_url, timeout=30) as public:
                token = await public.post("/oauth/token", data={"grant_type": "client_credentials",
                                                               "client_id": body["client_id"], "client_secret": body["client_secret"]})
            assert token.status_code == 200, token.text
            self.clients["bank"] = self.client(token.json()["access_token"])
        return self.clients["bank"]

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients.values()))


@pytest.fixture(scope="module")
async def people(gateway_url, api, make_user) -> AsyncIterator[People]:  # noqa: ANN001
    people = People(gateway_url, api, make_user)
    try:
        yield people
    finally:
        await people.close()


def applicant_case(amount: str, applicant: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "emergency", "town": TOWN, "cause": "acute_illness", "reason": "突发疾病 " + uuid.uuid4().hex[:6],
            "applicant": applicant, "amount": amount,
            "documents": [{"code": c, "received": True} for c in ("application", "id_card", "incident_proof", "bank_account")],
            "checks": [{"method": "home_visit"}]}


@pytest.fixture(scope="module")
async def year_2028(api, people: People, set_clock) -> AsyncIterator[dict[str, Any]]:  # noqa: ANN001
    """The year's work (see the module docstring); returns what was made."""
    worker = await people.get("worker", "town_caseworker", town=TOWN)
    approver = await people.get("approver", "town_approver", town=TOWN)
    officer = await people.get("officer", "village_officer", town=TOWN, village=VILLAGE)
    donor, bank = await people.donor(), await people.bank()
    made: dict[str, Any] = {}

    # T1: a registered-poor household of three; T1B: its dibao recorded from March.
    await set_clock(T1)
    head = member(name="林秀英", bank_account=HEAD_ACCOUNT)
    body = household(town=TOWN, village=VILLAGE, address="峰尾镇峰尾村7组12号", registered_poor=True,
                     members=[head, member("spouse", sex="female", name="陈美玉"), member("child", name="林小文")],
                     incomes=[{"source": "wages", "amount": "18000.00"}],
                     expenditures=[{"category": "medical", "amount": "3600.00"}, {"category": "employment_cost", "amount": "1200.00"}])
    registered = await worker.post("/api/v1/eligibility/households", json=body)
    assert registered.status_code == 201, registered.text
    hh = registered.json()
    made["household"], made["head"] = hh, {**head, "person_id": hh["members"][0]["person_id"]}
    made["personal"] = [m["name"] for m in body["members"]] + [m["id_number"] for m in body["members"]] + [HEAD_ACCOUNT, body["address"]]
    await set_clock(T1B)
    roster = await api.post(f"/api/v1/eligibility/households/{hh['household_id']}/roster-entries",
                            json={"category": "dibao", "approved_on": "2028-03-01", "effective_month": "2028-03"})
    assert roster.status_code == 201, roster.text
    [benefit] = roster.json()["benefits"]
    made["benefit"] = benefit

    # T2: the village enters the family's wish, the town publishes it (a 2028 campaign).
    campaign = await api.post("/api/v1/wishes/campaigns", json={"name": f"微光成炬 {YEAR} {uuid.uuid4().hex[:6]}",
                                                                "starts_on": f"{YEAR}-01-01", "ends_on": f"{YEAR}-12-31"})
    assert campaign.status_code == 201, campaign.text

    async def family_known() -> bool:
        return (await approver.get(f"/api/v1/wishes/families/{hh['household_id']}")).status_code == 200

    await eventually(family_known)
    await set_clock(T2)
    entered = await officer.post(f"/api/v1/wishes/campaigns/{campaign.json()['id']}/wishes", json={
        "household_id": hh["household_id"], "category": "appliance", "title": "一台电饭煲", "description": "", "cost": "200.00"})
    assert entered.status_code == 201, entered.text
    wish_id = entered.json()["id"]
    published = await approver.post(f"/api/v1/wishes/wishes/{wish_id}:publish")
    assert published.status_code == 200, published.text
    made["wish_id"] = wish_id

    # T3: a donor pledges the whole cost and delivers.
    await set_clock(T3)
    pledged = await donor.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish_id}]})
    assert pledged.status_code == 201, pledged.text
    pledge = pledged.json()["pledges"][0]
    assert pledge["amount"] == "200.00"
    delivered = await donor.post(f"/api/v1/wishes/pledges/{pledge['id']}:deliver", json={"note": "送到村委会"})
    assert delivered.status_code == 200, delivered.text
    made["pledge_id"] = pledge["id"]

    # T4: the town's reserve; an emergency case of the household paid within its deadline, and a
    # non-local applicant's one that is never paid.
    await set_clock(T4)
    allocated = await api.post(f"/api/v1/relief/reserves/{TOWN}/{YEAR}/entries", json={"kind": "allocation", "amount": "10000.00"})
    assert allocated.status_code == 201, allocated.text

    async def opened() -> dict[str, Any] | None:
        response = await worker.post("/api/v1/relief/cases", json=applicant_case(
            "2000.00", {"type": "registered", "person_id": made["head"]["person_id"]}))
        if response.status_code == 422 and response.json()["code"] == "unknown_person":
            return None  # relief has not projected the household yet
        assert response.status_code == 201, response.text
        return response.json()

    case = await eventually(opened)
    assert case["applicant"]["household_id"] == hh["household_id"]
    stranger = {"type": "non_local", "category": "migrant_worker", "name": "外来务工人员",
                "id_number": make_id_number("350505", date(1990, 5, 5), 77, "male")}
    unpaid = await worker.post("/api/v1/relief/cases", json=applicant_case("500.00", stranger))
    assert unpaid.status_code == 201, unpaid.text
    await set_clock(T4B)
    approved = await approver.post(f"/api/v1/relief/cases/{case['id']}/approval", json={})
    assert approved.status_code == 200, approved.text
    await set_clock(T4C)
    paid = await approver.post(f"/api/v1/relief/cases/{case['id']}/payment", json={"reference": "FW-2028-0001"})
    assert paid.status_code == 201, paid.text
    made["case"] = case

    # T5: the March assistance run pays the household's dibao; the bank answers "paid".
    await set_clock(T5)

    async def on_roster() -> bool:
        response = await api.get(f"/api/v1/subsidy/roster/persons/{made['head']['person_id']}")
        return response.status_code == 200 and any(b["category"] == "dibao" for b in response.json()["benefits"])

    await eventually(on_roster)
    run = await api.post("/api/v1/subsidy/runs", json={"month": f"{YEAR}-03", "benefit_group": "assistance"})
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]

    async def checked() -> bool:
        return (await api.get(f"/api/v1/subsidy/runs/{run_id}")).json()["status"] == "checked"

    await eventually(checked)
    assert (await api.post(f"/api/v1/subsidy/runs/{run_id}:approve")).status_code == 200
    issued = await api.post(f"/api/v1/subsidy/runs/{run_id}/bank-file")
    assert issued.status_code == 200, issued.text
    lines = (await api.get(f"/api/v1/subsidy/runs/{run_id}/lines", params={"person_id": made["head"]["person_id"]})).json()["items"]
    [line] = [ln for ln in lines if ln["benefit"] == "dibao"]
    answered = await bank.post("/api/v1/subsidy/bank-returns", json={"rows": [{"reference": line["reference"], "status": "paid"}]})
    assert answered.status_code == 200 and answered.json()["paid"] == 1, answered.text
    made["line"] = line

    # T6: the family confirms receipt of the wish.
    await set_clock(T6)
    confirmed = await officer.post(f"/api/v1/wishes/wishes/{wish_id}:confirm", json={"confirmed_by": "family"})
    assert confirmed.status_code == 200, confirmed.text

    # T7: the unpaid case's deadline has passed.
    await set_clock(T7)

    async def breached() -> bool:
        detail = (await worker.get(f"/api/v1/relief/cases/{unpaid.json()['id']}")).json()
        return detail["sla"]["state"] == "breached"

    await eventually(breached)
    yield made


# --- the KPI report ---------------------------------------------------------------------------------


def kpis_of(area: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert [k["id"] for k in area["kpis"]] == KPI_IDS
    return {k["id"]: k for k in area["kpis"]}


def figures(kpi: dict[str, Any]) -> tuple:
    return kpi["value"], kpi["numerator"], kpi["denominator"], kpi["target"], kpi["comparison"], kpi["met"]


async def report(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{REPORTS}/kpis", params={"year": YEAR, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def test_report_has_the_district_then_every_town_with_each_kpi(api, year_2028) -> None:  # noqa: ANN001
    body = await report(api)
    assert body["year"] == YEAR and body["generated_at"] == T7
    assert body["sources"] == {s: "ok" for s in ("eligibility", "relief", "care", "subsidy", "wishes")}
    assert [(a["code"], a["level"]) for a in body["areas"]] == [("350505", "district")] + [
        (code, "town") for code in ("350505001", "350505100", "350505101", "350505102", "350505103", "350505105", "350505106")]
    assert (body["areas"][0]["name"], body["areas"][5]["name"]) == ("泉港区", TOWN_NAME)
    first = body["areas"][0]["kpis"]
    assert [(k["id"], k["label"], k["rule"], k["unit"]) for k in first] == [
        ("dibao_coverage", "低保覆盖率", "R-DB-8", "percent"), ("benefit_growth", "人均补差增幅", "R-DB-8", "ratio"),
        ("relief_sla_compliance", "急难救助时限达标率", "R-TR-2", "ratio"), ("reserve_fund_usage", "备用金使用率", "R-TR-4", "ratio"),
        ("centralized_rate", "集中供养率", "R-TK-3", "ratio"), ("houses_accepted", "安居工程验收户数", "R-HS-1", "count"),
        ("visits_on_time", "按时探访率", "R-LB-2", "ratio"), ("wishes_published", "微心愿发布", "R-MW", "count"),
        ("wishes_adopted", "微心愿认领", "R-MW", "count"), ("wishes_fulfilled", "微心愿实现", "R-MW", "count")]


async def test_relief_and_wishes_figures_are_exact(api, year_2028) -> None:  # noqa: ANN001
    body = await report(api)
    town = kpis_of(body["areas"][5])
    # R-TR-2: one case paid in time, one breached; R-TR-4: 2000.00 of 10000.00 paid.
    assert figures(town["relief_sla_compliance"]) == ("0.5000", "1", "2", "1.0000", ">=", False)
    assert figures(town["reserve_fund_usage"]) == ("0.2000", "2000.00", "10000.00", "0.9000", ">=", False)
    # The wish: published, adopted (delivered) and fulfilled, of 14 villages × 5 = 70.
    for what in ("published", "adopted", "fulfilled"):
        assert figures(town[f"wishes_{what}"]) == ("1", None, None, "70", ">=", False)
    district = kpis_of(body["areas"][0])
    # Nobody else works in 2028: the district's relief and wishes figures are the town's.
    assert figures(district["relief_sla_compliance"]) == ("0.5000", "1", "2", "1.0000", ">=", False)
    assert figures(district["reserve_fund_usage"]) == ("0.2000", "2000.00", "10000.00", "0.9000", ">=", False)
    assert figures(district["wishes_published"]) == ("1", None, None, "505", ">=", False)
    for area in body["areas"][1:]:
        if area["code"] != TOWN:
            kpi = kpis_of(area)
            assert figures(kpi["relief_sla_compliance"]) == (None, "0", "0", "1.0000", ">=", None)
            assert figures(kpi["reserve_fund_usage"]) == (None, "0.00", "0.00", "0.9000", ">=", None)
            assert kpi["wishes_published"]["value"] == "0"


async def test_eligibility_care_and_subsidy_figures_are_the_services_own(api, year_2028) -> None:  # noqa: ANN001
    body = await report(api)
    eligibility = (await api.get("/api/v1/eligibility/kpis", params={"year": YEAR})).json()
    rows = {eligibility["district"]["town"]: eligibility["district"]} | {t["town"]: t for t in eligibility["towns"]}
    for area in body["areas"]:
        kpi, own = kpis_of(area), rows[area["code"]]
        assert figures(kpi["dibao_coverage"]) == (own["coverage_rate"], str(own["dibao_members"]),
                                                 None if own["registered_population"] is None else str(own["registered_population"]),
                                                 None, None, None)
        assert figures(kpi["benefit_growth"]) == (own["benefit_growth"], own["per_capita_benefit"], own["per_capita_benefit_previous"],
                                                 own["growth_target"], ">=", own["meets_growth_target"])
        care = (await api.get("/api/v1/care/kpis", params={"year": YEAR} | ({} if area["level"] == "district" else {"town": area["code"]}))).json()
        rate = care["centralized_rate"]["district"] if area["level"] == "district" else care["centralized_rate"]["towns"][0]
        assert figures(kpi["centralized_rate"]) == (rate["rate"], str(rate["centralized"]), str(rate["full_loss"]),
                                                   care["centralized_rate"]["target"], ">=", rate["met"])
        visits = care["visits_on_time"]
        target = visits.get("target")  # care reports none (yet): then no comparison and no met
        assert figures(kpi["visits_on_time"]) == (visits["rate"], str(visits["on_time"]),
                                                 str(visits["on_time"] + visits["late"] + visits["missed"]), target,
                                                 ">=" if target is not None else None, visits.get("met"))
        housing = (await api.get("/api/v1/subsidy/housing-projects/kpi", params={} if area["level"] == "district" else {"town": area["code"]})).json()
        expected = (str(housing["accepted"]), None, None, "50", ">=", housing["met"]) if area["level"] == "district" else (
            str(housing["accepted"]), None, None, None, None, None)
        assert figures(kpi["houses_accepted"]) == expected
    # The household's three members are covered by dibao in March 2028 (at least: the town's own).
    mine = kpis_of(body["areas"][5])
    assert int(mine["dibao_coverage"]["numerator"]) >= 3


async def test_csv_has_one_row_per_area_and_kpi(api, year_2028) -> None:  # noqa: ANN001
    response = await api.get(f"{REPORTS}/kpis", params={"year": YEAR, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="kpis-{YEAR}.csv"'
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["year", "area_code", "area_name", "level", "kpi", "label", "rule", "value", "unit",
                       "numerator", "denominator", "target", "met"]
    assert len(rows) == 1 + 8 * 10
    assert [(r[1], r[4]) for r in rows[1:11]] == [("350505", k) for k in KPI_IDS]
    by_key = {(r[1], r[4]): r for r in rows[1:]}
    assert by_key[(TOWN, "reserve_fund_usage")] == [
        "2028", TOWN, TOWN_NAME, "town", "reserve_fund_usage", "备用金使用率", "R-TR-4", "0.2000", "ratio", "2000.00", "10000.00", "0.9000", "false"]
    assert by_key[(TOWN, "relief_sla_compliance")][7:] == ["0.5000", "ratio", "1", "2", "1.0000", "false"]
    assert by_key[(TOWN, "wishes_fulfilled")][7:] == ["1", "count", "", "", "70", "false"]
    assert by_key[("350505", "wishes_published")][7:] == ["1", "count", "", "", "505", "false"]
    assert by_key[(OTHER_TOWN, "houses_accepted")][11:] == ["", ""]  # no town target, no met
    json_body = await report(api)
    for area in json_body["areas"]:
        for kpi in area["kpis"]:
            row = by_key[(area["code"], kpi["id"])]
            assert row[7] == (kpi["value"] or "") and row[12] == {True: "true", False: "false", None: ""}[kpi["met"]]


async def test_town_staff_get_their_own_town_only(api, people: People, year_2028) -> None:  # noqa: ANN001
    own = await people.get("worker", "town_caseworker", town=TOWN)
    body = await report(own)
    assert [a["code"] for a in body["areas"]] == [TOWN]
    district_view = next(a for a in (await report(api))["areas"] if a["code"] == TOWN)
    assert body["areas"][0] == district_view
    assert (await report(own, town=TOWN))["areas"] == body["areas"]
    problem(await own.get(f"{REPORTS}/kpis", params={"year": YEAR, "town": OTHER_TOWN}), 404, "not_found")
    csv_text = (await own.get(f"{REPORTS}/kpis", params={"year": YEAR, "format": "csv"})).content.decode("utf-8-sig")
    assert {r[1] for r in list(csv.reader(io.StringIO(csv_text)))[1:]} == {TOWN}
    # A district user may ask for one town: that town only.
    one = await report(api, town=OTHER_TOWN)
    assert [a["code"] for a in one["areas"]] == [OTHER_TOWN]


async def test_report_refuses_bad_input_and_other_roles(api, people: People, gateway_url: str) -> None:  # noqa: ANN001
    for year in ("1999", "twenty", "2101"):
        problem(await api.get(f"{REPORTS}/kpis", params={"year": year}), 422)
    problem(await api.get(f"{REPORTS}/kpis"), 422)
    problem(await api.get(f"{REPORTS}/kpis", params={"year": YEAR, "format": "xlsx"}), 422)
    problem(await api.get(f"{REPORTS}/kpis", params={"year": YEAR, "town": "350505999"}), 422, "unknown_town")
    volunteer = await people.get("volunteer", "volunteer", town=TOWN)
    problem(await volunteer.get(f"{REPORTS}/kpis", params={"year": YEAR}), 403, "forbidden")
    problem(await (await people.donor()).get(f"{REPORTS}/kpis", params={"year": YEAR}), 403, "forbidden")
    async with httpx.AsyncClient(base_url=gateway_url) as anonymous:
        problem(await anonymous.get(f"{REPORTS}/kpis", params={"year": YEAR}), 401, "unauthorized")


async def test_a_service_that_does_not_answer_is_unavailable(suite, api, admin_token: str, year_2028) -> None:  # noqa: ANN001
    """A second gateway on the same database (a replica, so the same tokens), whose care upstream
    is a closed port: the report still answers, with care's KPIs null."""
    from gateway.app import create_app
    from gateway.config import Settings
    from tests.gateway.conftest import Served

    port = free_port()
    own = f"http://127.0.0.1:{port}"
    upstreams = {name: suite.config.url(name) for name in SERVICES} | {"care": f"http://127.0.0.1:{free_port()}"}
    app = create_app(Settings(
        database_url=suite.database("gateway"), nats_url=suite.nats_url, port=port, mode="test", upstreams=upstreams,
        gateway_url=own, jwks_url=f"{own}/.well-known/jwks.json", log_level="WARNING", chain_projection=False,
        report_source_timeout_seconds=5.0,
    ))
    server = await Served(app, port, lifespan="on").start()
    try:
        async with httpx.AsyncClient(base_url=own, timeout=30, headers={"Authorization": f"Bearer {admin_token}"}) as client:
            degraded = await report(client)
            csv_text = (await client.get(f"{REPORTS}/kpis", params={"year": YEAR, "format": "csv"})).content.decode("utf-8-sig")
    finally:
        await server.stop()
    assert degraded["sources"] == {"eligibility": "ok", "relief": "ok", "care": "unavailable", "subsidy": "ok", "wishes": "ok"}
    normal = await report(api)
    for down, up in zip(degraded["areas"], normal["areas"], strict=True):
        for kpi in ("centralized_rate", "visits_on_time"):
            assert figures(kpis_of(down)[kpi]) == (None, None, None, None, None, None), (down["code"], kpi)
        for kpi in KPI_IDS:
            if kpi not in ("centralized_rate", "visits_on_time"):
                assert kpis_of(down)[kpi] == kpis_of(up)[kpi], (down["code"], kpi)
    rows = {(r[1], r[4]): r for r in list(csv.reader(io.StringIO(csv_text)))[1:]}
    assert rows[(TOWN, "centralized_rate")][7:] == ["", "ratio", "", "", "", ""]


# --- the household assistance chain -------------------------------------------------------------------


async def chain_of(client: httpx.AsyncClient, household_id: str, **params: Any) -> httpx.Response:
    return await client.get(f"{REPORTS}/households/{household_id}/chain", params=params)


def at(instant: str) -> str:
    return datetime.fromisoformat(instant).isoformat()


async def test_the_chain_holds_every_step_in_time_order(api, year_2028) -> None:  # noqa: ANN001
    hh = year_2028["household"]
    benefit, case, line = year_2028["benefit"], year_2028["case"], year_2028["line"]
    wish = year_2028["wish_id"]

    async def complete() -> dict[str, Any] | None:
        response = await chain_of(api, hh["household_id"], limit=500)
        assert response.status_code in (200, 404), response.text
        body = response.json() if response.status_code == 200 else {"items": []}
        types = {i["type"] for i in body["items"]}
        return body if {"wishes.wish.fulfilled", "subsidy.payment.paid", "relief.case.paid"} <= types else None

    body = await eventually(complete)
    assert (body["household_id"], body["town"], body["next_cursor"]) == (hh["household_id"], TOWN, None)
    items = body["items"]
    times = [datetime.fromisoformat(i["occurred_at"]) for i in items]
    assert times == sorted(times)
    assert all(i["occurred_at"].endswith("+08:00") for i in items)
    steps = [(i["occurred_at"], i["service"], i["type"], i["summary"]) for i in items]
    assert steps == [
        (at(T1), "eligibility", "eligibility.household.registered", "家庭登记入库（3人）"),
        (at(T1B), "eligibility", "eligibility.benefit.granted", "低保获批：每月1060.00元，自2028-03起"),
        (at(T2), "wishes", "wishes.wish.published", "微心愿发布：200.00元"),
        (at(T3), "wishes", "wishes.wish.pledged", "微心愿认领：200.00元"),
        (at(T3), "wishes", "wishes.wish.fully_pledged", "微心愿已全额认领"),
        (at(T4), "relief", "relief.case.opened", "临时救助受理：申请2000.00元"),
        (at(T4B), "relief", "relief.case.approved", "临时救助审批通过：2000.00元"),
        (at(T4C), "relief", "relief.case.paid", "临时救助发放：2000.00元"),
        (at(T5), "subsidy", "subsidy.payment.paid", "低保：2028-03发放1060.00元"),
        (at(T6), "wishes", "wishes.wish.fulfilled", "微心愿已实现"),
    ]
    assert items[0]["type"] == "eligibility.household.registered"
    data = {i["type"]: i["data"] for i in items}
    assert data["eligibility.household.registered"] == {
        "town": TOWN, "village": VILLAGE, "registered_poor": True, "ex_poor": False, "edge": False,
        "lonely_elderly": False, "revision": 1, "members": 3}
    granted = data["eligibility.benefit.granted"]
    assert (granted["benefit_id"], granted["category"], granted["monthly_amount"], granted["effective_month"], granted["members"]) == (
        benefit["benefit_id"], "dibao", "1060.00", "2028-03", 3)
    assert benefit["monthly_amount"] == "1060.00"
    paid = data["relief.case.paid"]
    assert (paid["case_id"], paid["amount"], paid["fund"], paid["sla_met"], paid["reference"]) == (
        case["id"], "2000.00", "town_reserve", True, "FW-2028-0001")
    payment = data["subsidy.payment.paid"]
    assert (payment["benefit"], payment["month"], payment["amount"], payment["reference"], payment["line_id"]) == (
        "dibao", "2028-03", "1060.00", line["reference"], line["id"])
    assert data["wishes.wish.pledged"] == {"wish_id": wish, "campaign_id": data["wishes.wish.published"]["campaign_id"],
                                           "family_type": "dibao", "category": "appliance", "cost": "200.00",
                                           "pledged": "200.00", "pledge_id": year_2028["pledge_id"], "amount": "200.00"}
    assert data["wishes.wish.fulfilled"]["confirmed_by"] == "family"
    # No name, ID number, address or bank account anywhere in the chain.
    text = (await chain_of(api, hh["household_id"], limit=500)).text
    for secret in year_2028["personal"]:
        assert secret not in text


async def test_the_chain_pages_oldest_first(api, year_2028) -> None:  # noqa: ANN001
    household_id = year_2028["household"]["household_id"]
    whole = (await chain_of(api, household_id, limit=500)).json()["items"]
    pages, cursor = [], None
    while True:
        response = await chain_of(api, household_id, limit=3, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages[:-1]] == [3] * (len(pages) - 1) and len(pages) == -(-len(whole) // 3)
    assert [i for page in pages for i in page] == whole
    problem(await chain_of(api, household_id, cursor="not-a-cursor"), 422, "invalid_cursor")


async def test_the_chain_is_for_its_town_and_the_district_only(api, people: People, year_2028) -> None:  # noqa: ANN001
    household_id = year_2028["household"]["household_id"]
    own = await people.get("worker", "town_caseworker", town=TOWN)
    approver = await people.get("approver", "town_approver", town=TOWN)
    whole = (await chain_of(api, household_id, limit=500)).json()
    assert (await chain_of(own, household_id, limit=500)).json() == whole
    assert (await chain_of(approver, household_id, limit=500)).status_code == 200
    auditor = await people.get("auditor", "auditor")
    assert (await chain_of(auditor, household_id, limit=500)).json() == whole
    other = await people.get("other", "town_approver", town=OTHER_TOWN)
    problem(await chain_of(other, household_id), 404, "not_found")
    problem(await chain_of(own, str(uuid.uuid4())), 404, "not_found")
    problem(await chain_of(api, str(uuid.uuid4())), 404, "not_found")
    volunteer = await people.get("volunteer", "volunteer", town=TOWN)
    problem(await chain_of(volunteer, household_id), 403, "forbidden")
    problem(await chain_of(await people.donor(), household_id), 403, "forbidden")


async def test_a_household_of_another_town_is_hidden_from_this_town(api, people: People, set_clock) -> None:  # noqa: ANN001
    """A household registered in another town: its own staff see its chain, this town's do not."""
    await set_clock(T7)
    other = await people.get("other_worker", "town_caseworker", town=OTHER_TOWN)
    registered = await other.post("/api/v1/eligibility/households", json=household(
        town=OTHER_TOWN, village=f"{OTHER_TOWN}002", members=[member()]))
    assert registered.status_code == 201, registered.text
    household_id = registered.json()["household_id"]

    async def seen() -> dict[str, Any] | None:
        response = await chain_of(other, household_id)
        return response.json() if response.status_code == 200 else None

    body = await eventually(seen)
    assert body["town"] == OTHER_TOWN and body["items"][0]["type"] == "eligibility.household.registered"
    assert body["items"][0]["data"]["members"] == 1
    problem(await chain_of(await people.get("worker", "town_caseworker", town=TOWN), household_id), 404, "not_found")


# --- the projection on its own database, and the pure parts --------------------------------------------


def event(event_type: str, data: dict[str, Any], *, at_: str, subject: str | None = None) -> Any:
    from shared.events.envelope import new_event

    return new_event(event_type, data, source=f"/services/{event_type.split('.')[0]}",
                     time=datetime.fromisoformat(at_), subject=subject)


@pytest.fixture(scope="module")
async def chain_db(databases) -> AsyncIterator[Any]:  # noqa: ANN001
    from shared.db import make_engine, make_sessionmaker
    from shared.migrations import upgrade

    url = await databases.create("gwchain")
    await asyncio.to_thread(upgrade, "gateway", url)
    engine = make_engine(url, pool_size=2)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_the_registry_decides_the_town_and_a_move_between_towns_moves_the_chain(chain_db) -> None:  # noqa: ANN001
    from gateway.reports.service import household_chain, project_event
    from shared.auth import Principal
    from shared.errors import Problem
    from shared.pagination import PageParams

    hh, now = f"hh-{uuid.uuid4().hex[:8]}", datetime.fromisoformat(T1)
    member_data = {"person_id": "p1", "name": "王秀英", "id_number": "350505194801010012", "bank_account": "6222000011112222"}
    registry = {"household_id": hh, "village": VILLAGE, "registered_poor": True, "ex_poor": False, "edge": False,
                "lonely_elderly": False, "members": [member_data], "head_person_id": "p1"}
    relief = {"case_id": "c1", "town": OTHER_TOWN, "household_id": hh, "person_id": "p1", "applicant_type": "registered",
              "kind": "emergency", "status": "open", "amount": "800.00", "reason": "姓名王秀英 住址某村3组5号"}
    async with chain_db() as session:
        # A relief event first (another stream may be read earlier): it places the household only for now.
        assert await project_event(session, event("relief.case.opened", relief, at_=T2, subject="c1"), now=now) == 1
        assert await project_event(session, event("eligibility.household.registered", {**registry, "town": TOWN, "revision": 1},
                                                  at_=T1, subject=hh), now=now) == 1
        # A stale revision arriving late changes nothing; a newer one moves the household.
        await project_event(session, event("eligibility.household.changed", {**registry, "town": OTHER_TOWN, "revision": 3},
                                           at_=T4, subject=hh), now=now)
        await project_event(session, event("eligibility.household.changed", {**registry, "town": TOWN, "revision": 2},
                                           at_=T3, subject=hh), now=now)
        await session.commit()
    page = PageParams(limit=50, after=None)
    district = Principal(subject="d", roles=frozenset({"district_admin"}))
    async with chain_db() as session:
        chain = await household_chain(session, household_id=hh, principal=district, page=page)
        assert chain.town == OTHER_TOWN
        assert [(i.type, i.summary) for i in chain.items] == [
            ("eligibility.household.registered", "家庭登记入库（1人）"), ("relief.case.opened", "临时救助受理：申请800.00元")]
        text = chain.model_dump_json()
        assert all(secret not in text for secret in ("王秀英", "350505194801010012", "6222000011112222", "3组5号"))
        assert chain.items[1].data == {"case_id": "c1", "kind": "emergency", "status": "open", "amount": "800.00",
                                       "applicant_type": "registered", "person_id": "p1"}
        moved_to = Principal(subject="o", roles=frozenset({"town_caseworker"}), town=OTHER_TOWN)
        assert (await household_chain(session, household_id=hh, principal=moved_to, page=page)).items == chain.items
        left = Principal(subject="t", roles=frozenset({"town_caseworker"}), town=TOWN)
        with pytest.raises(Problem) as hidden:
            await household_chain(session, household_id=hh, principal=left, page=page)
        assert hidden.value.status == 404


async def test_one_event_is_projected_once_and_a_move_names_both_households(chain_db) -> None:  # noqa: ANN001
    from sqlalchemy import func, select

    from gateway.reports.models import ChainEntry, ChainHousehold
    from gateway.reports.service import project_event

    left, joined = f"hh-{uuid.uuid4().hex[:8]}", f"hh-{uuid.uuid4().hex[:8]}"
    moved = event("eligibility.person.moved", {"person_id": "p9", "household_id": left, "from_town": TOWN,
                                               "to_town": OTHER_TOWN, "moved_on": "2028-03-05", "to_household_id": joined},
                  at_=T4, subject="p9")
    outside = event("care.visit.recorded", {"care_person_id": "cp1", "person_id": None, "household_id": None, "town": TOWN,
                                            "visit_id": "v1", "plan_id": "pl1", "category": "left_behind_child",
                                            "visited_on": "2028-03-05", "method": "phone", "due_on": "2028-03-31",
                                            "on_time": True}, at_=T4, subject="v1")
    async with chain_db() as session:
        assert await project_event(session, moved, now=datetime.fromisoformat(T4)) == 2
        assert await project_event(session, moved, now=datetime.fromisoformat(T4)) == 2  # ON CONFLICT: no second row
        assert await project_event(session, outside, now=datetime.fromisoformat(T4)) == 0
        # Another service's event only fills a town still unknown: the household left stays in TOWN.
        assert await project_event(session, event("relief.case.opened", {"case_id": "c9", "town": OTHER_TOWN, "household_id": left},
                                                  at_=T4, subject="c9"), now=datetime.fromisoformat(T4)) == 1
        await session.commit()
        count = await session.scalar(select(func.count()).select_from(ChainEntry).where(ChainEntry.event_id == moved.id))
        towns = dict((await session.execute(select(ChainHousehold.household_id, ChainHousehold.town)
                                            .where(ChainHousehold.household_id.in_([left, joined])))).all())
    assert count == 2 and towns == {left: TOWN, joined: OTHER_TOWN}


def test_events_keep_no_personal_data() -> None:
    from gateway.reports.entries import CHAIN_TYPES, describe

    referral = describe("care.referral.created", {
        "care_person_id": "cp1", "person_id": None, "household_id": "h1", "town": TOWN, "referral_id": "r1", "to": "relief",
        "reason": "emergency_hardship", "visit_id": "v1", "village": VILLAGE, "name": "张三", "id_number": "350505194801010012"})
    assert referral is not None and referral.summary == "探访转介：临时救助"
    assert referral.data == {"care_person_id": "cp1", "person_id": None, "referral_id": "r1", "to": "relief",
                             "reason": "emergency_hardship", "visit_id": "v1"}
    refused = describe("relief.case.refused", {"case_id": "c", "household_id": "h1", "reason": "家住某路12号", "amount": "100.00"})
    assert refused is not None and "reason" not in refused.data
    paid = describe("subsidy.payment.failed", {"run_id": "r", "line_id": 7, "person_id": "p", "household_id": "h1",
                                               "benefit": "tekun_care", "month": "2028-03", "amount": "800.00",
                                               "reference": "QG1", "reason": "账户已销户", "bank_account": "6222"})
    assert paid is not None and paid.summary == "特困照料护理费：2028-03发放失败（800.00元）" and "bank_account" not in paid.data
    assert describe("relief.case.opened", {"case_id": "c", "household_id": None, "town": TOWN}) is None
    assert len(CHAIN_TYPES) == len(set(CHAIN_TYPES)) and CHAIN_TYPES[0] == "eligibility.household.registered"


def test_merge_marks_a_missing_source_and_keeps_the_others() -> None:
    from gateway.reports.kpis import ReportScope, calls_for, merge
    from shared.regions import TOWNS

    town = next(t for t in TOWNS if t.code == TOWN)
    scope = ReportScope(False, (town,), TOWN)
    assert [(c.service, c.path, c.params) for c in calls_for(YEAR, scope)] == [
        ("eligibility", "/api/v1/eligibility/kpis", {"year": "2028", "town": TOWN}),
        ("relief", "/api/v1/relief/kpis", {"year": "2028", "town": TOWN}),
        ("wishes", "/api/v1/wishes/kpis", {"year": "2028", "town": TOWN}),
        ("care", "/api/v1/care/kpis", {"year": "2028", "town": TOWN}),
        ("subsidy", "/api/v1/subsidy/housing-projects/kpi", {"town": TOWN})]
    wishes = {"town": TOWN, "town_name": TOWN_NAME, "villages": 14, "target": 70, "published": 70, "adopted": 3, "fulfilled": 0}
    answers = {("eligibility", ""): None, ("relief", ""): {"towns": []}, ("wishes", ""): {"towns": [wishes], "district": wishes},
               ("care", TOWN): None, ("subsidy", TOWN): {"accepted": 4, "target": 50, "met": False}}
    areas, sources = merge(answers, scope)
    assert sources == {"eligibility": "unavailable", "relief": "unavailable", "care": "unavailable", "subsidy": "ok", "wishes": "ok"}
    kpis = {k.id: k for k in areas[0].kpis}
    assert (kpis["wishes_published"].value, kpis["wishes_published"].target, kpis["wishes_published"].met) == ("70", "70", True)
    assert (kpis["wishes_adopted"].met, kpis["houses_accepted"].value, kpis["houses_accepted"].target) == (False, "4", None)
    assert (kpis["relief_sla_compliance"].value, kpis["relief_sla_compliance"].target, kpis["relief_sla_compliance"].comparison) == (None, None, None)


async def test_an_event_that_only_fills_an_unknown_town_locks_no_household_row(chain_db) -> None:  # noqa: ANN001
    # Consumer lanes project events of the same household at once: an event of another service
    # must neither wait for nor hold the household's row once its town is known (the upsert it
    # replaced locked the row even when it changed nothing: lanes queued up and deadlocked).
    from sqlalchemy import func, select, text

    from gateway.reports.models import ChainEntry, ChainHousehold
    from gateway.reports.service import project_event

    hh, now = f"hh-{uuid.uuid4().hex[:8]}", datetime.fromisoformat(T4)

    def relief(case: str, town: str | None) -> Any:
        return event("relief.case.opened", {"case_id": case, "town": town, "household_id": hh}, at_=T4, subject=case)

    async with chain_db() as session:
        # Known first only by an event without a town; a later one fills it, a third changes nothing.
        assert await project_event(session, relief("c1", None), now=now) == 1
        await session.commit()
        assert (await session.get(ChainHousehold, hh)).town is None
        assert await project_event(session, relief("c2", TOWN), now=now) == 1
        await session.commit()
        assert await project_event(session, relief("c3", OTHER_TOWN), now=now) == 1
        await session.commit()
        session.expire_all()
        assert (await session.get(ChainHousehold, hh)).town == TOWN
    async with chain_db() as first, chain_db() as second:
        assert await project_event(first, relief("c4", OTHER_TOWN), now=now) == 1  # open, not committed
        await second.execute(text("SET LOCAL lock_timeout = '2s'"))
        # The first lane's open transaction holds no lock on the row: this would fail at once.
        locked = await second.execute(text("SELECT town FROM chain_households WHERE household_id = :hh FOR UPDATE NOWAIT"), {"hh": hh})
        assert locked.scalar_one() == TOWN
        await second.rollback()
        await second.execute(text("SET LOCAL lock_timeout = '2s'"))
        assert await project_event(second, relief("c5", OTHER_TOWN), now=now) == 1  # no wait for the first
        await second.commit()
        await first.commit()
    async with chain_db() as session:
        cases = (await session.scalars(select(ChainEntry.subject).where(ChainEntry.household_id == hh)
                                       .order_by(ChainEntry.subject))).all()
        assert cases == ["c1", "c2", "c3", "c4", "c5"]
        assert await session.scalar(select(func.count()).select_from(ChainHousehold).where(ChainHousehold.household_id == hh)) == 1
        assert (await session.get(ChainHousehold, hh)).town == TOWN
