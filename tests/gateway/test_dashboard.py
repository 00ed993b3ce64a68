"""The staff dashboard (``GET /dashboard``) against the real suite, in a real headless browser.

Debian's chromium (``/usr/bin/chromium``, installed here with apt-get when missing) driven by
playwright's async API in the session's event loop. The test signs in through the page's form,
then compares every figure the page shows (``data-kpi``/``data-field``/``data-raw`` and the text)
with ``GET /api/v1/reports/kpis`` for the same user, and the listed relief cases at risk or
breached and the payment runs with the relief and subsidy APIs. It also checks the wrong-password
message, the year selector, a town user's narrower view, that no personal data reaches the page
and that the page runs under its Content-Security-Policy without a single violation.

This directory's conftest.py replaces ``api`` and ``admin_token`` with a stand-in gateway, so the
fixtures here talk to the real suite (``gateway_url``) under their own names.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from shared import regions
from shared.ids import make_id_number
from tests.conftest import get_token
from tests.wishes.conftest import WishWorld

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CLOCK = "2021-03-15T09:00:00+08:00"  # Monday; March 2021 has no holiday
YEAR = 2021
TOWN = "350505103"  # 峰尾镇
VILLAGE = regions.villages_of(TOWN)[0].code
APPLICANT_NAME = "欧阳看板"
FIELDS = ("value", "numerator", "denominator", "target", "met")
CHARTED = ("dibao_coverage", "relief_sla_compliance", "reserve_fund_usage", "centralized_rate", "visits_on_time",
           "wishes_published", "wishes_adopted", "wishes_fulfilled")


# -- the browser ----------------------------------------------------------------------------------


def _install_chromium() -> str | None:
    """apt-get install chromium; None when it worked, else why not."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return "not root and no sudo to run apt-get"
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    why = ""
    for commands in ([["apt-get", "install", "-y", "chromium"]],
                     [["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]]):
        for command in commands:
            done = subprocess.run([*prefix, *command], env=env, capture_output=True, text=True, timeout=1800, check=False)
            why = f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-300:]}"
            if done.returncode != 0:
                break
        if os.path.exists(CHROMIUM):
            return None
    return why or "chromium is still missing after apt-get install"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt-get when missing (skip only when that is impossible)."""
    if not os.path.exists(CHROMIUM):
        why = _install_chromium()
        if why is not None:
            pytest.skip(f"Debian's chromium could not be installed ({why})")
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Any]:
    async_api = pytest.importorskip("playwright.async_api", reason="the playwright package (test extras) is missing")
    playwright = await async_api.async_playwright().start()
    try:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()
    finally:
        await playwright.stop()


class Page:
    """One browser tab on the dashboard, collecting console errors (CSP violations among them)."""

    def __init__(self, page: Any, gateway_url: str) -> None:
        self.page, self.gateway_url, self.errors, self.requests = page, gateway_url, [], []
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    async def open(self) -> None:
        response = await self.page.goto(f"{self.gateway_url}/dashboard")
        assert response is not None and response.status == 200
        await self.page.wait_for_selector("#login-form")

    async def sign_in(self, username: str, password: str) -> None:
        await self.page.fill("#username", username)
        await self.page.fill("#password", password)
        await self.page.click("#login-button")

    async def ready(self, year: int) -> None:
        await self.page.wait_for_selector(f"#board[data-state=ready][data-year='{year}']", timeout=30_000)

    async def figures(self) -> list[dict[str, str]]:
        return await self.page.eval_on_selector_all("[data-kpi]", """els => els.map(e => ({
            kpi: e.getAttribute('data-kpi'), field: e.getAttribute('data-field'), raw: e.getAttribute('data-raw'),
            text: e.textContent, chart: e.closest('svg') !== null}))""")

    async def rows(self, selector: str, key: str) -> list[dict[str, Any]]:
        return await self.page.eval_on_selector_all(selector, """(rows, key) => rows.map(r => ({
            id: r.getAttribute(key),
            cells: Object.fromEntries([...r.querySelectorAll('[data-field]')].map(c => [c.getAttribute('data-field'),
                {raw: c.getAttribute('data-raw'), text: c.textContent}]))}))""", key)


@pytest.fixture
async def tab(browser, gateway_url: str) -> AsyncIterator[Page]:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        yield Page(await context.new_page(), gateway_url)
    finally:
        await context.close()


# -- the suite: admin, users, data ----------------------------------------------------------------


@pytest.fixture(scope="module")
async def admin(suite, gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    token = await get_token(gateway_url, "admin", suite.config.admin_password)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


async def staff(admin: httpx.AsyncClient, role: str, town: str | None = None) -> tuple[str, str, httpx.AsyncClient]:
    """A new staff user: (username, password, a client signed in as it). Like conftest's
    ``make_user``, which does not hand out the password the form needs."""
    username, password = f"dash_{role}_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    body = {"username": username, "password": password, "display_name": f"看板 {role}", "roles": [role],
            **({"town": town} if town else {})}
    created = await admin.post("/api/v1/admin/users", json=body)
    assert created.status_code == 201, created.text
    token = await get_token(str(admin.base_url).rstrip("/"), username, password)
    client = httpx.AsyncClient(base_url=admin.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"})
    return username, password, client


async def eventually(check, *, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not true after {timeout}s (last: {result!r})"
        await asyncio.sleep(0.2)


def relief_case(accepted_at: str, seq: int, amount: str = "800.00") -> dict[str, Any]:
    return {
        "kind": "emergency", "town": TOWN, "cause": "acute_illness", "reason": "dashboard " + uuid.uuid4().hex[:6],
        "applicant": {"type": "non_local", "category": "migrant_worker", "name": APPLICANT_NAME,
                      "id_number": make_id_number("350505", date(1979, 3, 3), 400 + seq, "female")},
        "amount": amount, "accepted_at": accepted_at, "documents": [], "checks": [{"method": "phone"}],
    }


@pytest.fixture(scope="module")
async def world(admin: httpx.AsyncClient, gateway_url: str) -> AsyncIterator[dict[str, Any]]:
    """At 2021-03-15 09:00 (Quanzhou), through the API: relief cases of 峰尾镇 (one breached and
    open, one at risk, one paid late, one paid in time, one on track), its 2021 reserve, a 2021
    wishes campaign with a published wish, and payment runs of 2021-02 and 2021-01 (2021: a year
    no other test uses)."""
    clock = await admin.put("/api/v1/admin/clock", json={"now": CLOCK, "running": False})
    assert clock.status_code == 200, clock.text
    _, _, worker = await staff(admin, "town_caseworker", TOWN)
    _, _, approver = await staff(admin, "town_approver", TOWN)
    wishes = WishWorld(gateway_url, admin)  # its helpers register the family through eligibility
    try:
        allocated = await admin.post(f"/api/v1/relief/reserves/{TOWN}/{YEAR}/entries", json={"kind": "allocation", "amount": "5000.00"})
        assert allocated.status_code in (201, 409), allocated.text
        cases: dict[str, dict[str, Any]] = {}
        for seq, (key, accepted) in enumerate([
            ("breached_open", "2021-03-01T10:00:00+08:00"),   # due by 8 March: past
            ("at_risk", "2021-03-08T10:00:00+08:00"),         # due by 15 March: the last day
            ("paid_late", "2021-03-01T11:00:00+08:00"),
            ("paid_on_time", "2021-03-15T08:30:00+08:00"),
            ("on_track", "2021-03-12T10:00:00+08:00"),        # due by 19 March
        ]):
            opened = await worker.post("/api/v1/relief/cases", json=relief_case(accepted, seq))
            assert opened.status_code == 201, opened.text
            cases[key] = opened.json()
        for key in ("paid_late", "paid_on_time"):
            approved = await approver.post(f"/api/v1/relief/cases/{cases[key]['id']}/approval", json={})
            assert approved.status_code == 200, approved.text
            paid = await approver.post(f"/api/v1/relief/cases/{cases[key]['id']}/payment", json={"reference": f"DASH-{key}"})
            assert paid.status_code == 201, paid.text

        campaign = await admin.post("/api/v1/wishes/campaigns", json={
            "name": f"看板测试 {uuid.uuid4().hex[:6]}", "starts_on": "2021-03-01", "ends_on": "2021-12-31"})
        assert campaign.status_code == 201, campaign.text
        family = await wishes.family(VILLAGE)
        entered = await wishes.enter(family, cost="150.00", campaign_id=int(campaign.json()["id"]))
        assert entered.status_code == 201, entered.text
        reviewer = await wishes.reviewer(TOWN)
        published = await reviewer.post(f"/api/v1/wishes/wishes/{entered.json()['id']}:publish")
        assert published.status_code == 200, published.text

        runs = []
        for month, group in (("2021-02", "veterans"), ("2021-01", "veterans")):
            created = await admin.post("/api/v1/subsidy/runs", json={"month": month, "benefit_group": group})
            assert created.status_code in (201, 409), created.text
            run_id = created.json()["id"] if created.status_code == 201 else created.json()["run_id"]

            async def checked(run_id: str = run_id) -> dict[str, Any] | None:
                run = (await admin.get(f"/api/v1/subsidy/runs/{run_id}")).json()
                return run if run["status"] != "created" else None

            runs.append(await eventually(checked))
        yield {"cases": cases, "family": family, "runs": runs}
    finally:
        await wishes.close()
        await worker.aclose()
        await approver.aclose()


# -- what the API says ----------------------------------------------------------------------------


async def all_items(client: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        response = await client.get(path, params={**params, "limit": "200", **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


def shown(value: str | None, unit: str) -> str:
    """A KPI figure as the page must show it."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{(Decimal(value) * 100).quantize(Decimal('0.01'), ROUND_HALF_UP)}%"
    if unit == "percent":
        return f"{value}%"
    return str(value)


def expected_figure(kpi: dict[str, Any], field: str) -> tuple[str, str]:
    """(data-raw, text) of one field of one KPI."""
    value = kpi[field]
    if field == "met":
        return ("" if value is None else str(value).lower()), {True: "达标", False: "未达标", None: "—"}[value]
    raw = "" if value is None else str(value)
    if field in ("value", "target"):
        return raw, shown(value, kpi["unit"])
    return raw, raw or "—"


async def check_kpis(page: Page, client: httpx.AsyncClient, year: int) -> dict[str, Any]:
    """Every KPI figure on the page equals the API's report for the same user, and every KPI of
    every area is on the page (table: all five fields; charts: the charted values)."""
    response = await client.get("/api/v1/reports/kpis", params={"year": str(year)})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["year"] == year
    kpis = {f"{area['code']}:{kpi['id']}": kpi for area in report["areas"] for kpi in area["kpis"]}
    figures = await page.figures()
    assert figures, "no KPI figure on the page"
    for figure in figures:
        assert figure["kpi"] in kpis, figure
        raw, text = expected_figure(kpis[figure["kpi"]], figure["field"])
        assert (figure["raw"], figure["text"]) == (raw, text), (figure, kpis[figure["kpi"]])
    in_tables = {(f["kpi"], f["field"]) for f in figures if not f["chart"]}
    assert in_tables == {(key, field) for key in kpis for field in FIELDS}
    in_charts = {f["kpi"] for f in figures if f["chart"]}
    assert in_charts == {key for key in kpis if key.split(":")[1] in CHARTED}
    areas = await page.page.eval_on_selector_all("[data-testid=area]", "els => els.map(e => e.getAttribute('data-area'))")
    assert areas == [area["code"] for area in report["areas"]]
    return report


async def check_cases(page: Page, client: httpx.AsyncClient) -> dict[str, list[str]]:
    """The cases at risk and breached on the page are the relief API's, field by field."""
    listed = {}
    for state in ("at_risk", "breached"):
        api_cases = await all_items(client, "/api/v1/relief/cases", sla_state=state)
        rows = await page.rows(f"#cases-{state} tr[data-testid=case-row]", "data-case-id")
        assert [r["id"] for r in rows] == [c["id"] for c in api_cases], state
        for row, case in zip(rows, api_cases, strict=True):
            cells = row["cells"]
            assert {k: cells[k]["raw"] for k in ("id", "town", "kind", "status", "accepted_at", "deadline_date", "sla_state",
                                                 "amount_requested")} == {
                "id": case["id"], "town": case["town"], "kind": case["kind"], "status": case["status"],
                "accepted_at": case["accepted_at"] or "", "deadline_date": case["sla"]["deadline_date"] or "",
                "sla_state": state, "amount_requested": case["amount_requested"] or ""}, row
            assert case["sla"]["state"] == state
            assert cells["sla_state"]["text"] == {"at_risk": "即将超时", "breached": "已超时"}[state]
        count = await page.page.text_content(f"#count-{state}")
        assert count == f"（{len(api_cases)} 件）"
        listed[state] = [c["id"] for c in api_cases]
    return listed


async def check_runs(page: Page, client: httpx.AsyncClient, year: int) -> list[str]:
    """The runs on the page are the subsidy API's runs of ``year``, newest month first (the whole
    list filtered here, and the service's own ``?year=`` filter, which the page uses)."""
    api_runs = [r for r in await all_items(client, "/api/v1/subsidy/runs") if r["month"].startswith(f"{year}-")]
    assert [r["id"] for r in await all_items(client, "/api/v1/subsidy/runs", year=str(year))] == [r["id"] for r in api_runs]
    rows = await page.rows("#runs tr[data-testid=run-row]", "data-run-id")
    assert [r["id"] for r in rows] == [r["id"] for r in api_runs]
    for row, run in zip(rows, api_runs, strict=True):
        raws = {k: v["raw"] for k, v in row["cells"].items()}
        assert raws == {k: "" if run[k] is None else str(run[k]) for k in (
            "code", "month", "benefit_group", "status", "lines_total", "lines_payable", "lines_dropped", "amount_payable",
            "bank_count", "bank_total")}, row
    return [r["id"] for r in api_runs]


# -- tests ------------------------------------------------------------------------------------------


async def test_dashboard_page_is_public_html_with_a_strict_csp(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
        page = await client.get("/dashboard")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        csp = {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in (p.strip() for p in page.headers["content-security-policy"].split(";"))}
        assert csp["script-src"] == "'self'" and csp["default-src"] == "'none'" and csp["style-src"] == "'self'"
        assert csp["connect-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
        assert "unsafe" not in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        html = page.text
        assert "<title>泉港区社会救助兜底保障 · 工作看板</title>" in html
        assert "用户名" in html and "密码" in html and "登录" in html
        # Nothing inline for the CSP to block, nothing from elsewhere (the machine may be offline).
        assert "<script>" not in html and "<style" not in html and " style=" not in html and "http" not in html
        for asset, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
            assert f"/dashboard/static/{asset}?v=" in html
            response = await client.get(f"/dashboard/static/{asset}")
            assert response.status_code == 200, asset
            assert response.headers["content-type"].startswith(kind)
            assert "http://" not in response.text.replace("http://www.w3.org/2000/svg", "")
            assert "https://" not in response.text


async def test_wrong_password_shows_a_chinese_error(tab: Page, admin: httpx.AsyncClient) -> None:
    username, _, client = await staff(admin, "district_approver")
    await client.aclose()
    await tab.open()
    await tab.sign_in(username, "not-the-password")
    await tab.page.wait_for_selector("#login-error:not([hidden])")
    assert await tab.page.text_content("#login-error") == "用户名或密码错误，请重新输入。"
    assert await tab.page.is_hidden("#board")
    assert await tab.page.evaluate("sessionStorage.length") == 0
    # An empty form is answered on the page, without asking the gateway.
    await tab.page.fill("#username", "")
    await tab.page.click("#login-button")
    assert await tab.page.text_content("#login-error") == "请输入用户名和密码。"
    # The console names only the refused request (status 400), nothing else went wrong.
    assert all(e.startswith("Failed to load resource") for e in tab.errors), tab.errors


async def test_a_donor_account_is_not_let_in(tab: Page, gateway_url: str) -> None:
    username, password = f"dash_donor_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
        created = await client.post("/oauth/register", json={"username": username, "password": password, "display_name": "爱心人士"})
    assert created.status_code == 201, created.text
    await tab.open()
    await tab.sign_in(username, password)
    await tab.page.wait_for_selector("#login-error:not([hidden])")
    assert await tab.page.text_content("#login-error") == "该账号不是工作人员账号，无权查看工作看板。"
    assert await tab.page.is_hidden("#board")


async def test_figures_cases_and_runs_equal_the_api(tab: Page, admin: httpx.AsyncClient, world: dict[str, Any]) -> None:
    username, password, client = await staff(admin, "district_approver")
    try:
        await tab.open()
        await tab.sign_in(username, password)
        await tab.ready(YEAR)  # the demo clock's year is the default
        assert await tab.page.input_value("#year") == str(YEAR)
        assert await tab.page.text_content("#clock-now") == "2021-03-15 09:00"

        report = await check_kpis(tab, client, YEAR)
        assert report["areas"][0]["level"] == "district" and len(report["areas"]) == 1 + len(regions.TOWNS)
        town = next(a for a in report["areas"] if a["code"] == TOWN)
        sla = next(k for k in town["kpis"] if k["id"] == "relief_sla_compliance")
        assert sla["value"] is not None  # 峰尾镇 has closed cases in 2021: a figure, not "—"
        district = report["areas"][0]
        published = next(k for k in district["kpis"] if k["id"] == "wishes_published")
        assert int(published["value"]) >= 1 and published["target"] == "505"
        shown_published = await tab.page.text_content(f"table [data-kpi='{district['code']}:wishes_published'][data-field=value]")
        assert shown_published == published["value"]

        listed = await check_cases(tab, client)
        cases = world["cases"]
        assert cases["breached_open"]["id"] in listed["breached"] and cases["paid_late"]["id"] in listed["breached"]
        assert cases["at_risk"]["id"] in listed["at_risk"]
        everywhere = set(listed["at_risk"]) | set(listed["breached"])
        assert cases["paid_on_time"]["id"] not in everywhere and cases["on_track"]["id"] not in everywhere

        runs = await check_runs(tab, client, YEAR)
        assert [r for r in runs if r in {w["id"] for w in world["runs"]}] == [w["id"] for w in world["runs"]]
        # The year's runs come from the service's filter: one page, no walk through older years.
        run_requests = [u for u in tab.requests if "/api/v1/subsidy/runs" in u]
        assert len(run_requests) == 1 and f"year={YEAR}" in run_requests[0], run_requests

        # No personal data: not the applicants' name or ID numbers, not the wish family's.
        html = await tab.page.content()
        secrets = [APPLICANT_NAME]
        secrets += [c["applicant"]["id_number"] for c in cases.values() if c["applicant"].get("id_number")]
        secrets += [relief_case("x", seq)["applicant"]["id_number"] for seq in range(5)]
        family = world["family"]
        secrets += [family.name, family.id_number, family.address, family.household_id]
        for secret in secrets:
            assert secret not in html, secret

        # Another year: the selector reloads the report and the runs for it.
        await tab.page.select_option("#year", "2020")
        await tab.ready(2020)
        await check_kpis(tab, client, 2020)
        runs_2020 = await check_runs(tab, client, 2020)
        assert not {w["id"] for w in world["runs"]} & set(runs_2020)
        await check_cases(tab, client)

        # A reload keeps the session (sessionStorage); signing out forgets the token.
        await tab.page.reload()
        await tab.ready(YEAR)
        await tab.page.click("#logout")
        assert await tab.page.is_visible("#login-form") and await tab.page.is_hidden("#board")
        assert await tab.page.evaluate("sessionStorage.length") == 0
        assert tab.errors == [], tab.errors  # no CSP violation, no script error
    finally:
        await client.aclose()


async def test_a_town_user_sees_its_own_town(tab: Page, admin: httpx.AsyncClient, world: dict[str, Any]) -> None:
    username, password, client = await staff(admin, "town_approver", TOWN)
    try:
        await tab.open()
        await tab.sign_in(username, password)
        await tab.ready(YEAR)
        report = await check_kpis(tab, client, YEAR)
        assert [a["code"] for a in report["areas"]] == [TOWN]
        listed = await check_cases(tab, client)
        assert world["cases"]["at_risk"]["id"] in listed["at_risk"]
        towns = await tab.page.eval_on_selector_all("tr[data-testid=case-row] [data-field=town]", "els => els.map(e => e.getAttribute('data-raw'))")
        assert towns and set(towns) == {TOWN}
        assert await tab.page.text_content("#who") == "镇（街道）审批人员 · 峰尾镇"
        await check_runs(tab, client, YEAR)
        assert tab.errors == [], tab.errors
    finally:
        await client.aclose()


async def test_the_start_up_banner_names_the_dashboard_and_every_page_it_names_answers(gateway_url: str) -> None:
    import re

    from deploy.suite import where_to_look

    lines = where_to_look(gateway_url)
    assert f"  Dashboard {gateway_url}/dashboard" in lines
    urls = [url for line in lines for url in re.findall(r"http://\S+", line)]
    assert {u.removeprefix(gateway_url) for u in urls} == {"", "/docs", "/dashboard", "/readyz", "/metrics"}
    async with httpx.AsyncClient(timeout=30) as client:
        for url in urls[1:]:  # the bare base URL has no page of its own
            assert (await client.get(url)).status_code == 200, url
