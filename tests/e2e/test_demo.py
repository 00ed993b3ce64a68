"""``make demo`` in small: a few hundred households replayed through a suite of their own, then
every KPI figure of ``GET /api/v1/reports/kpis?year=2020`` checked against counts computed here
from the services' own lists (benefits and decisions, relief cases and the reserve ledgers, care
persons and placements, visit plans and visits, housing projects, wishes), and the demo's summary
against the same lists.

The demo replays from the bureau's go-live, so it gets a fresh suite (its own databases and
nats-server): the session's shared suite holds other tests' data by the time this module runs.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest

from deploy.demo.phases import DemoConfig, Replay, format_summary
from deploy.embedded import EmbeddedNats, free_port
from shared import regions
from tests.conftest import _drop_quietly, get_token

HOUSEHOLDS = 300
SEED = 11
YEAR = 2020
ADMIN_PASSWORD = "admin-demo-password"
DIBAO = ("dibao", "dibao_single_person")
PUBLIC = ("published", "fully_pledged", "delivered", "confirmed", "closed")
ADOPTED = ("fully_pledged", "delivered", "confirmed", "closed")
FULFILLED = ("confirmed", "closed")
DISTRICT = regions.DISTRICT.code
TOWNS = [t.code for t in regions.TOWNS]


@pytest.fixture(scope="module")
async def demo_suite(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory):
    """The gateway and the five services in test mode, on their own databases and nats-server."""
    from deploy.suite import COMPONENTS, Suite, SuiteConfig

    nats = EmbeddedNats(tmp_path_factory.mktemp("demo-nats"), free_port())
    await asyncio.to_thread(nats.start)
    prefix = f"d{uuid.uuid4().hex[:6]}_"
    config = SuiteConfig(
        data_dir=tmp_path_factory.mktemp("demo-suite"), database_url=pg_server_url, nats_url=nats.url, mode="test",
        db_prefix=prefix, ports={name: free_port() for name in COMPONENTS}, admin_password=ADMIN_PASSWORD,
        log_dir=tmp_path_factory.mktemp("demo-logs"), log_level="WARNING",
    )
    running = Suite(config)
    try:
        await running.start()
        yield running
    finally:
        await asyncio.to_thread(running.stop)
        await _drop_quietly(pg_server_url, [f"{prefix}{name}" for name in COMPONENTS])
        await asyncio.to_thread(nats.stop)


@pytest.fixture(scope="module")
async def demo(demo_suite):
    """The demo's result (its entry point called in-process, quietly)."""
    out = io.StringIO()
    config = DemoConfig(households=HOUSEHOLDS, seed=SEED, gateway=demo_suite.config.url("gateway"),
                        admin_password=ADMIN_PASSWORD, quiet=True, out=out)
    result = await Replay(config).run()
    print(format_summary(result))
    return result


class WaitsOutRateLimits(httpx.AsyncHTTPTransport):
    """A well-behaved client: a 429 is waited out as its ``Retry-After`` says, then retried. The
    checks' administrator shares its rate bucket with the demo's, who has just used it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        while True:
            response = await super().handle_async_request(request)
            if response.status_code != 429:
                return response
            await response.aclose()
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))


@pytest.fixture(scope="module")
async def admin(demo_suite, demo):
    url = demo_suite.config.url("gateway")
    token = await get_token(url, "admin", ADMIN_PASSWORD)
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"},
                                 transport=WaitsOutRateLimits()) as client:
        yield client


async def every(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list."""
    items, query = [], {"limit": 500, **params}
    while True:
        response = await client.get(path, params=query)
        assert response.status_code == 200, (path, response.text)
        page = response.json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        query["cursor"] = page["next_cursor"]


def _half_up(value: Fraction | Decimal | int, places: int) -> str:
    exact = Fraction(value) if not isinstance(value, Fraction) else value
    scaled = exact * 10**places
    whole, remainder = divmod(scaled.numerator, scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        whole += 1
    text = str(whole).rjust(places + 1, "0")
    return f"{text[:-places]}.{text[-places:]}" if places else text


def ratio(numerator: int | Fraction, denominator: int | Fraction) -> str | None:
    return None if not denominator else _half_up(Fraction(numerator) / Fraction(denominator), 4)


@pytest.fixture(scope="module")
async def report(admin) -> dict[str, Any]:
    response = await admin.get("/api/v1/reports/kpis", params={"year": YEAR})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["year"] == YEAR
    return body


def figures(report: dict[str, Any], kpi: str) -> dict[str, dict[str, Any]]:
    """Area code → the KPI's entry."""
    return {area["code"]: next(k for k in area["kpis"] if k["id"] == kpi) for area in report["areas"]}


def by_area(values: dict[str, Any]) -> dict[str, Any]:
    """Per-town values plus the district's (their sum)."""
    out = {t: values.get(t, 0) for t in TOWNS}
    out[DISTRICT] = sum(out[t] for t in TOWNS)
    return out


# --- the run itself ---------------------------------------------------------------------------


async def test_the_demo_replays_the_year_without_a_failed_step(demo) -> None:
    assert demo.failures == []
    assert demo.counts["registry.households"] == HOUSEHOLDS
    assert demo.counts.get("registry.rejected", 0) == 0
    # every phase ran, and each month of 2020
    for label in ("setup", "registration", "go-live 2019", "2019", "year end", *(f"{YEAR}-{m:02d}" for m in range(1, 13))):
        assert label in demo.phase_seconds, label
    assert demo.kpis is not None


async def test_the_report_covers_the_district_and_its_towns_from_every_source(report) -> None:
    assert [a["code"] for a in report["areas"]] == [DISTRICT, *TOWNS]
    assert report["sources"] == {s: "ok" for s in ("eligibility", "relief", "care", "subsidy", "wishes")}
    ids = [k["id"] for k in report["areas"][0]["kpis"]]
    assert ids == ["dibao_coverage", "benefit_growth", "relief_sla_compliance", "reserve_fund_usage", "centralized_rate",
                   "houses_accepted", "visits_on_time", "wishes_published", "wishes_adopted", "wishes_fulfilled"]


# --- R-DB-8: coverage and growth --------------------------------------------------------------


async def test_dibao_coverage_is_the_members_covered_in_december_over_the_registered_population(admin, report, demo) -> None:
    benefits = [b for b in await every(admin, "/api/v1/eligibility/benefits") if b["category"] in DIBAO]
    members: Counter[str] = Counter()
    for b in benefits:
        if b["effective_month"] <= f"{YEAR}-12" and (b["last_month"] is None or b["last_month"] >= f"{YEAR}-12"):
            members[b["town"]] += len(b["members"])
    towns = (await admin.get("/api/v1/eligibility/towns", params={"year": YEAR})).json()
    population = {t["town"]: t["registered_population"] for t in towns}
    assert sum(population.values()) == demo.counts["registry.persons"]  # the demo's population is the district's
    expected_members = by_area(members)
    expected_population = by_area(population)
    assert expected_members[DISTRICT] > 0
    for code, kpi in figures(report, "dibao_coverage").items():
        assert kpi["numerator"] == str(expected_members[code]), code
        assert kpi["denominator"] == str(expected_population[code]), code
        assert kpi["value"] == _half_up(Fraction(expected_members[code] * 100, expected_population[code]), 2), code
        assert kpi["unit"] == "percent" and kpi["target"] is None


async def _benefit_periods(admin: httpx.AsyncClient) -> list[tuple[str, dict[str, Any], list[tuple[str, Decimal, int]]]]:
    """Each dibao benefit with its recorded periods (from its decisions, oldest first):
    (from month, monthly amount, members)."""
    benefits = [b for b in await every(admin, "/api/v1/eligibility/benefits") if b["category"] in DIBAO]
    decisions: dict[str, list[dict[str, Any]]] = {}
    for household in sorted({b["household_id"] for b in benefits}):
        decisions[household] = await every(admin, f"/api/v1/eligibility/households/{household}/decisions")
    out = []
    for b in benefits:
        own = [d for d in decisions[b["household_id"]] if d["benefit_id"] == b["benefit_id"] and d["effective_month"]
               and d["outcome"] in ("eligible", "single_person_inclusion", "gradual_exit")]
        own.sort(key=lambda d: (d["created_at"], d["decision_id"]))
        periods = [(d["effective_month"], Decimal(d["monthly_amount"]),
                    int(d["trace"].get("inputs", {}).get("members") or len(b["members"])) if d["category"] == "dibao" else 1)
                   for d in own]
        out.append((b["town"], b, periods))
    return out


def _year_totals(periods: list[tuple[str, Decimal, int]], benefit: dict[str, Any], year: int) -> tuple[Fraction, int]:
    amount, persons = Fraction(0), 0
    for month in (f"{year}-{m:02d}" for m in range(1, 13)):
        if month < benefit["effective_month"] or (benefit["last_month"] is not None and month > benefit["last_month"]):
            continue
        in_force = [p for p in periods if p[0] <= month]
        if in_force:
            amount += Fraction(in_force[-1][1])
            persons += in_force[-1][2]
    return amount, persons


async def test_benefit_growth_is_the_person_month_weighted_per_capita_benefit_against_2019(admin, report) -> None:
    current: dict[str, list] = defaultdict(lambda: [Fraction(0), 0])
    previous: dict[str, list] = defaultdict(lambda: [Fraction(0), 0])
    for town, benefit, periods in await _benefit_periods(admin):
        for year, totals in ((YEAR, current), (YEAR - 1, previous)):
            amount, persons = _year_totals(periods, benefit, year)
            for code in (town, DISTRICT):
                totals[code][0] += amount
                totals[code][1] += persons
    checked = 0
    for code, kpi in figures(report, "benefit_growth").items():
        cur, prev = current[code], previous[code]
        per_now = cur[0] / cur[1] if cur[1] else None
        per_before = prev[0] / prev[1] if prev[1] else None
        assert kpi["numerator"] == (_half_up(per_now, 2) if per_now is not None else None), code
        assert kpi["denominator"] == (_half_up(per_before, 2) if per_before is not None else None), code
        if per_now is None or per_before is None:
            assert kpi["value"] is None and kpi["met"] is None, code
            continue
        growth = per_now / per_before
        assert kpi["value"] == _half_up(growth, 4), code
        assert kpi["target"] == "1.12" and kpi["met"] is (growth >= Fraction(112, 100)), code
        checked += 1
    assert checked >= 2  # the district and at least one town had dibao in both years
    # 720 against 600: the raise alone lifts every 2019 benefit by more than 12 %
    assert figures(report, "benefit_growth")[DISTRICT]["met"] is True


# --- R-TR-2 / R-TR-4: relief ------------------------------------------------------------------


async def test_relief_sla_compliance_counts_emergency_cases_paid_in_time_and_breached(admin, report, demo) -> None:
    cases = await every(admin, "/api/v1/relief/cases", kind="emergency")
    now = datetime.fromisoformat((await admin.get("/api/v1/admin/clock")).json()["now"])
    met: Counter[str] = Counter()
    breached: Counter[str] = Counter()
    paid_on_time = paid_late = 0
    for case in cases:
        deadline = case["sla"]["deadline_at"]
        if deadline is None or not case["accepted_at"].startswith(str(YEAR)):
            continue
        deadline_at = datetime.fromisoformat(deadline)
        if case["status"] == "paid":
            in_time = datetime.fromisoformat(case["paid_at"]) <= deadline_at
            (met if in_time else breached)[case["town"]] += 1
            paid_on_time += in_time
            paid_late += not in_time
        elif case["status"] in ("open", "approved") and deadline_at <= now:
            breached[case["town"]] += 1
    assert paid_on_time == demo.counts.get("relief.paid_on_time", 0)
    assert paid_late == demo.counts.get("relief.paid_late", 0)
    expected_met, expected_breached = by_area(met), by_area(breached)
    assert expected_met[DISTRICT] > 0
    for code, kpi in figures(report, "relief_sla_compliance").items():
        total = expected_met[code] + expected_breached[code]
        assert kpi["numerator"] == str(expected_met[code]), code
        assert kpi["denominator"] == str(total), code
        assert kpi["value"] == ratio(expected_met[code], total), code
        assert kpi["met"] == (None if total == 0 else expected_breached[code] == 0), code


async def test_reserve_fund_usage_is_paid_over_allocated_from_the_ledgers(admin, report) -> None:
    allocated: dict[str, Decimal] = {}
    paid: dict[str, Decimal] = {}
    for town in TOWNS:
        entries = await every(admin, f"/api/v1/relief/reserves/{town}/{YEAR}/entries")
        allocated[town] = sum((Decimal(e["amount"]) for e in entries if e["kind"] in ("allocation", "top_up")), Decimal(0))
        paid[town] = sum((abs(Decimal(e["amount"])) for e in entries if e["kind"] == "payment"), Decimal(0))
    # the ledger's payments are the town-tier cases paid from the reserve that year
    from_cases: Counter[str] = Counter()
    for case in await every(admin, "/api/v1/relief/cases", status="paid"):
        payment = case["payment"]
        if payment["fund"] == "town_reserve" and payment["reserve_year"] == YEAR:
            from_cases[case["town"]] += Decimal(payment["amount"])
    assert {t: paid[t] for t in TOWNS} == {t: Decimal(from_cases.get(t, 0)) for t in TOWNS}
    expected_allocated, expected_paid = by_area(allocated), by_area(paid)
    for code, kpi in figures(report, "reserve_fund_usage").items():
        assert Decimal(kpi["numerator"]) == expected_paid[code], code
        assert Decimal(kpi["denominator"]) == expected_allocated[code], code
        value = ratio(Fraction(expected_paid[code]), Fraction(expected_allocated[code]))
        assert kpi["value"] == value, code
        assert kpi["met"] == (None if value is None else Fraction(expected_paid[code]) / Fraction(expected_allocated[code]) >= Fraction(9, 10)), code


# --- R-TK-3, R-LB-2: care ---------------------------------------------------------------------


async def test_centralized_rate_is_placed_over_full_loss_tekun_persons(admin, report, demo) -> None:
    persons = await every(admin, "/api/v1/care/persons", tekun="true", level="full_loss")
    living = [p for p in persons if p["deceased_on"] is None]
    placements = await every(admin, "/api/v1/care/placements")
    active = {p["person_id"] for p in placements if p["status"] == "active"}
    assert len(placements) == demo.counts.get("care.placements", 0)
    full: Counter[str] = Counter(p["town"] for p in living)
    placed: Counter[str] = Counter(p["town"] for p in living if p["id"] in active)
    expected_full, expected_placed = by_area(full), by_area(placed)
    for code, kpi in figures(report, "centralized_rate").items():
        assert kpi["numerator"] == str(expected_placed[code]), code
        assert kpi["denominator"] == str(expected_full[code]), code
        # care writes its rates normalised ("1", "0.5"), the other sources with four places: compare the numbers
        expected = ratio(expected_placed[code], expected_full[code])
        assert (kpi["value"] is None) == (expected is None), code
        if expected is not None:
            assert Decimal(kpi["value"]) == Decimal(expected), code


async def test_visits_on_time_counts_every_visit_due_in_the_year_and_the_periods_missed(admin, report, demo) -> None:
    plans = await every(admin, "/api/v1/care/visit-plans")
    assert len(plans) == demo.counts.get("care.visit_plans", 0) > 0
    on_time: Counter[str] = Counter()
    late: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    visits_total = 0
    as_of = date(YEAR, 12, 31)
    for plan in plans:
        visits = await every(admin, f"/api/v1/care/visit-plans/{plan['id']}/visits")
        visits_total += len(visits)
        for visit in visits:
            if visit["due_on"].startswith(str(YEAR)):
                (on_time if visit["on_time"] else late)[plan["town"]] += 1
        if plan["status"] == "active" and date(YEAR, 1, 1) <= date.fromisoformat(plan["next_due"]) < as_of:
            missed[plan["town"]] += 1
    assert visits_total == demo.counts["care.visits"]
    assert sum(on_time.values()) + sum(late.values()) <= visits_total
    expected_on, expected_late, expected_missed = by_area(on_time), by_area(late), by_area(missed)
    for code, kpi in figures(report, "visits_on_time").items():
        total = expected_on[code] + expected_late[code] + expected_missed[code]
        assert kpi["numerator"] == str(expected_on[code]), code
        assert kpi["denominator"] == str(total), code
        assert kpi["value"] == ratio(expected_on[code], total), code


# --- R-HS-1: safe housing ---------------------------------------------------------------------


async def test_houses_accepted_are_the_projects_at_their_last_milestone(admin, report, demo) -> None:
    projects = await every(admin, "/api/v1/subsidy/housing-projects")
    assert len(projects) == demo.counts["housing.projects"]
    accepted = Counter(p["town"] for p in projects if p["stage"] == "accepted")
    assert sum(accepted.values()) == demo.counts.get("housing.accepted", 0)
    expected = by_area(accepted)
    for code, kpi in figures(report, "houses_accepted").items():
        assert kpi["value"] == str(expected[code]), code
        assert kpi["unit"] == "count"
        if code == DISTRICT:
            assert kpi["target"] == "50" and kpi["met"] is (expected[code] >= 50)
        else:
            assert kpi["target"] is None


# --- R-MW: the 505 wishes ----------------------------------------------------------------------


async def test_wishes_published_adopted_and_fulfilled_out_of_five_per_village(admin, report, demo) -> None:
    campaigns = await every(admin, "/api/v1/wishes/campaigns")
    assert len(campaigns) == 1
    wishes = await every(admin, f"/api/v1/wishes/campaigns/{campaigns[0]['id']}/wishes")
    assert len(wishes) == demo.counts["wishes.entered"]
    published = Counter(w["town"] for w in wishes if w["status"] in PUBLIC)
    adopted = Counter(w["town"] for w in wishes if w["status"] in ADOPTED)
    fulfilled = Counter(w["town"] for w in wishes if w["status"] in FULFILLED)
    assert sum(published.values()) == demo.counts["wishes.published"]
    assert sum(fulfilled.values()) == demo.counts.get("wishes.confirmed", 0)
    assert sum(1 for w in wishes if w["status"] == "closed") == demo.counts.get("wishes.closed", 0)
    targets = {t: 5 * len(regions.villages_of(t)) for t in TOWNS} | {DISTRICT: 505}
    for kpi_id, counts in (("wishes_published", published), ("wishes_adopted", adopted), ("wishes_fulfilled", fulfilled)):
        expected = by_area(counts)
        for code, kpi in figures(report, kpi_id).items():
            assert kpi["value"] == str(expected[code]), (kpi_id, code)
            assert kpi["target"] == str(targets[code]), (kpi_id, code)
            assert kpi["met"] is (expected[code] >= targets[code]), (kpi_id, code)
    # all three ways of pledging happened (R-MW-3)
    for mode in ("one_donor_one_wish", "one_donor_many_wishes", "many_donors_one_wish"):
        assert demo.counts.get(f"wishes.mode_{mode}", 0) > 0, mode


# --- the summary against the lists -------------------------------------------------------------


async def test_the_summary_counts_match_the_services_lists(admin, demo) -> None:
    households = await every(admin, "/api/v1/eligibility/households")
    assert len(households) == demo.counts["registry.households"]
    applications = await every(admin, "/api/v1/eligibility/applications")
    by_status = Counter((a["category"], a["status"]) for a in applications)
    assert by_status[("dibao", "approved")] == demo.counts.get("applications.dibao_approved", 0)
    assert by_status[("dibao", "refused")] + by_status[("dibao", "refusal_notified")] == demo.counts.get("applications.dibao_refused", 0)
    cases = await every(admin, "/api/v1/relief/cases")
    assert sum(c["status"] == "paid" for c in cases) == demo.counts.get("relief.cases_paid", 0)
    assert sum(c["status"] == "referred" for c in cases) == demo.counts.get("relief.referred_to_rescue_station", 0)
    runs = await every(admin, "/api/v1/subsidy/runs")
    groups = Counter(r["benefit_group"] for r in runs)
    for group in ("assistance", "price", "housing"):
        assert groups[group] == demo.counts.get(f"runs.{group}", 0), group
    assert sum(r["lines_payable"] for r in runs) == demo.counts["runs.lines_payable"]
    assert all(r["status"] in ("issued", "reconciled") for r in runs)
    # the price subsidy was paid for the months that triggered it: January to September 2020, and 2019-09
    price_months = sorted(r["month"] for r in runs if r["benefit_group"] == "price")
    assert price_months == ["2019-09", *(f"{YEAR}-{m:02d}" for m in range(1, 10))]
    alerts = await every(admin, "/api/v1/care/alerts")
    assert len(alerts) == demo.counts.get("care.alerts", 0)


# --- the demo's own inputs (no suite needed) -----------------------------------------------------


def test_the_population_is_reproducible_and_its_resident_ids_are_valid() -> None:
    from deploy.demo.population import REFERENCE_DAY, generate
    from shared.ids import parse_id_number

    first, again, other = generate(400, 5), generate(400, 5), generate(400, 6)
    assert [h.as_intake() for h in first.households] == [h.as_intake() for h in again.households]
    assert [h.as_intake() for h in first.households] != [h.as_intake() for h in other.households]
    numbers = [m.id_number for h in first.households for m in h.members]
    assert len(set(numbers)) == len(numbers)
    for household in first.households:
        assert regions.town_of_village(household.village).code == household.town
        assert sum(m.relation == "head" for m in household.members) == 1
        for member in household.members:
            parsed = parse_id_number(member.id_number, today=REFERENCE_DAY)
            assert parsed.birth_date == member.birth and parsed.sex == member.sex
            # Quangang was split from Hui'an in 1996: the region code of the number says where it was issued
            if member.id_number[:6] in ("350505", "350521") and member.relation not in ("spouse", "child_in_law", "parent"):
                assert (member.birth.year >= 1996) == (member.id_number[:6] == "350505")
    profiles = Counter(h.profile for h in generate(3000, 2020).households)
    assert 0.02 < profiles["poor"] / 3000 < 0.06 and profiles["normal"] / 3000 > 0.85


def test_the_2020_calendar_comes_from_chinesecalendar_with_the_spring_festival_extension() -> None:
    from deploy.demo.timeline import announced_2020, year_arrangement

    final, announced = year_arrangement(2020), announced_2020()
    # the extended Spring Festival: 24 January to 2 February off (the weekend of 1-2 February too)
    assert {"2020-01-24", "2020-01-27", "2020-01-30", "2020-01-31"} <= set(final["holidays"])
    assert "2020-01-19" in final["workdays"] and "2020-02-01" not in final["workdays"]
    assert "2020-10-08" in final["holidays"] and {"2020-09-27", "2020-10-10"} <= set(final["workdays"])
    # as announced in November 2019: back to work on 31 January, Saturday 1 February a working day
    assert "2020-01-31" not in announced["holidays"] and "2020-02-01" in announced["workdays"]
    assert set(final["holidays"]) - set(announced["holidays"]) == {"2020-01-31"}


def test_the_admin_password_comes_from_the_option_the_environment_or_the_file_make_run_writes(tmp_path, monkeypatch) -> None:
    import stat

    from deploy.demo.__main__ import admin_password, parse_args
    from deploy.suite import store_admin_password

    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path))
    assert admin_password(None) is None
    path = store_admin_password(tmp_path, "generated-secret-1")
    assert path == tmp_path / "admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin_password(None) == "generated-secret-1"
    monkeypatch.setenv("ADMIN_PASSWORD", "from-the-environment")
    assert admin_password(None) == "from-the-environment"
    assert admin_password("from-the-option") == "from-the-option"
    args = parse_args(["--households", "120", "--seed", "3"])
    assert (args.households, args.seed, args.year) == (120, 3, 2020)
    with pytest.raises(SystemExit):
        parse_args(["--year", "2021"])
