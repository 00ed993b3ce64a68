"""The replay: Quangang's safety net from its go-live in January 2019 through the year 2020.

Only the gateway's REST API is used, the way the bureau's staff, its volunteers, donors and other
departments' systems use it (see :mod:`deploy.demo.client`). The phases:

1. **check** — the gateway answers, the district's seven towns are there (regions are seed data),
   and the suite holds no households yet (the demo needs a fresh suite).
2. **setup** (clock 2019-01-02) — staff accounts for the district and each town, 505 volunteers,
   system clients of the medical insurance, statistics, public security, bank and device
   platform; each town's registered population (R-DB-8).
3. **registration** — the synthetic population (:mod:`deploy.demo.population`) through the bulk
   intake, in batches.
4. **go-live 2019** — existing beneficiaries entered as of 2 January 2019 (dibao at the 2019
   standard of 600 yuan, tekun, orphans, children without care, revolutionary veterans); the
   2020 standard scheduled by the seed data is withdrawn, to be decided again in December.
   Then **events settling**: the subsidy roster and the wishes service take in the registrations
   (care catches up while the replay goes on).
5. **2019** — the September 2019 CPI and its price subsidy run; the 2020 working-day
   arrangement as announced in November 2019; in December the standard raised to 720 yuan from
   1 January 2020 (every benefit recalculated).
6. **2020-01 … 2020-12** — day by day on working days: the Spring Festival extension (loaded on
   27 January), dibao and tekun applications through the R-DB-9 steps, re-checks, medical-expense
   feeds raising risk flags and referrals, emergency and expenditure-type relief cases (some
   across the Spring Festival and National Day holidays, some paid late), reserve funds, monthly
   payment runs with cross-checks, bank files and bank returns with failures, the CPI of each
   month and the price subsidy runs it triggers (doubled March–June), deaths reported by public
   security, tekun self-care assessments, willingness, waiting list and bed allocation, the
   left-behind registry, visit plans and visits, monitoring devices and their alerts, safe-housing
   projects and their tranches, the "505" micro-wish campaign with donors pledging in all three
   ways, deliveries, confirmations and closures.
7. **year end** — projections settled, the clock at 2020-12-31 18:00, the KPI report fetched.

Every random choice comes from the seed: the same population and the same plan of the year on
every run (the suite's own ids differ; a few details follow the order in which concurrent answers
arrive). Steps that need no particular day run on the working Tuesdays and Thursdays (see
:mod:`deploy.demo.timeline`). ``DEMO_PROFILE=1`` prints where the replay's time went.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import secrets
import sys
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TextIO

from deploy.demo import population as pop
from deploy.demo.client import Actor, ApiError, Gateway, Progress, eventually
from deploy.demo.timeline import (
    Timeline,
    add_workdays,
    announced_2020,
    at,
    field_day,
    last_field_day,
    next_workday,
    workdays_of,
    year_arrangement,
)
from shared import regions

YEAR = 2020
GO_LIVE = date(2019, 1, 2)
CPI_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cpi-national-2019-2020.csv"
# NBS release dates of the monthly CPI (the figure of month M is published around the 10th of M+1).
CPI_RELEASES = {
    "2019-09": date(2019, 10, 15), "2020-01": date(2020, 2, 10), "2020-02": date(2020, 3, 10), "2020-03": date(2020, 4, 10),
    "2020-04": date(2020, 5, 12), "2020-05": date(2020, 6, 10), "2020-06": date(2020, 7, 9), "2020-07": date(2020, 8, 10),
    "2020-08": date(2020, 9, 9), "2020-09": date(2020, 10, 15), "2020-10": date(2020, 11, 10), "2020-11": date(2020, 12, 9),
}
MONTHS = [f"{YEAR}-{m:02d}" for m in range(1, 13)]
WISH_IDEAS = (
    ("appliance", "一台电饭煲", 260), ("appliance", "一台洗衣机", 980), ("appliance", "一台电风扇", 180),
    ("study", "一个新书包和文具", 150), ("study", "一张学习书桌", 420), ("study", "一套课外读物", 200),
    ("clothing", "一件冬季棉衣", 300), ("clothing", "两双运动鞋", 240), ("daily_necessities", "一套床上用品", 350),
    ("daily_necessities", "一个保温水壶和餐具", 120), ("food", "一袋大米和食用油", 200), ("medical_aid", "一台血压计", 230),
    ("medical_aid", "一副助行器", 380), ("housing", "修缮漏雨的屋顶", 1500), ("appliance", "一台电暖器", 320),
    ("medical_aid", "一副老花镜和助听器", 680), ("study", "一台学习用平板电脑", 1500), ("other", "一辆自行车", 450),
)
FAIL_REASONS = ("账户已销户 (account closed)", "户名与账号不符 (name does not match)", "账户冻结 (account frozen)")
NON_LOCAL_REGIONS = ("510722", "511321", "522121", "360124", "430524", "412726", "341221")


@dataclass
class DemoConfig:
    """What ``python -m deploy.demo`` was asked to do."""

    households: int = 20_000
    seed: int = 2020
    gateway: str = "http://127.0.0.1:8000"
    admin_password: str = ""
    year: int = YEAR
    concurrency: int = 16
    quiet: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)


@dataclass
class DemoResult:
    """What the replay did: ``counts`` by ``area.item``, seconds per phase, the KPI report."""

    counts: dict[str, int]
    phase_seconds: dict[str, float]
    kpis: dict[str, Any] | None
    failures: list[str]
    elapsed: float
    requests: int
    waited: dict[str, float] = field(default_factory=dict)


class DemoError(RuntimeError):
    """The demo cannot go on (suite not running, not fresh, wrong password …)."""


def q(value: Decimal | int | float | str) -> str:
    """Yuan as the API writes it: a decimal string with two places."""
    return f"{Decimal(str(value)).quantize(Decimal('0.01'), ROUND_HALF_UP):.2f}"


class Replay:
    """One run of the demo against a running suite."""

    def __init__(self, config: DemoConfig, gateway: Gateway | None = None) -> None:
        self.cfg = config
        self.gw = gateway or Gateway(config.gateway, concurrency=config.concurrency)
        self.rng = random.Random(config.seed * 7919 + 17)
        self.counts: Counter[str] = Counter()
        self.phase_seconds: dict[str, float] = {}
        self.timeline = Timeline(self.set_clock, quiet=config.quiet)
        self.population: pop.Population | None = None
        self.admin = Actor("admin", config.admin_password, roles=("district_admin",))
        self.operators: list[Actor] = []
        self.district_approver: Actor | None = None
        self.caseworkers: dict[str, list[Actor]] = {}
        self.approvers: dict[str, Actor] = {}
        self.care_workers: dict[str, Actor] = {}
        self.volunteers: dict[str, list[tuple[Actor, str]]] = {}  # town -> (user, care volunteer id)
        self.officers: dict[str, Actor] = {}
        self.clients: dict[str, Actor] = {}
        self.donors: list[Actor] = []
        self.by_id: dict[str, pop.Household] = {}
        self.person_ids: dict[str, str] = {}  # id number -> eligibility person id
        self.care_ids: dict[str, str] = {}  # eligibility person id -> care person id
        self.benefits: dict[str, set[str]] = defaultdict(set)  # household id -> categories granted
        self.tekun_persons: list[tuple[pop.Household, pop.Person]] = []
        self.applying: set[str] = set()  # households with an open dibao application
        self.tekun_2020: set[str] = set()  # households (refs) whose tekun member applies in 2020
        self.deceased: set[str] = set()  # id numbers reported dead
        self.homes: list[dict[str, Any]] = []
        self.housing_months: set[str] = set()
        self.run_groups: set[str] = {"assistance"}
        self.campaign_id: int | None = None
        self.reviewed: set[str] = set()  # referrals already looked at
        self.confirming: set[int] = set()  # wishes whose receipt is being confirmed
        self.deferrals: Counter[str] = Counter()  # steps put off until another service caught up
        self.medical_plan: dict[int, list[tuple[pop.Household, pop.Person, int]]] = {}
        self.planned_reserve: Counter[str] = Counter()
        self.generous_towns: set[str] = set()
        self.waited: Counter[str] = Counter()  # seconds spent waiting, by what for
        self._rr = Counter()  # round-robin positions
        self.started = time.monotonic()

    # --- plumbing --------------------------------------------------------------------------

    def say(self, text: str) -> None:
        if not self.cfg.quiet:
            print(text, file=self.cfg.out, flush=True)

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def pick(self, pool: list[Actor], key: str) -> Actor:
        self._rr[key] += 1
        return pool[self._rr[key] % len(pool)]

    def operator(self) -> Actor:
        return self.pick(self.operators, "operators")

    def caseworker(self, town: str) -> Actor:
        return self.pick(self.caseworkers[town], f"cw:{town}")

    async def set_clock(self, when: datetime) -> None:
        """The suite's clock to ``when`` (not running): every service must acknowledge."""
        async def settled() -> bool:
            state = await self.gw.put(self.admin, "/api/v1/admin/clock", {"now": when.isoformat(), "running": False})
            return not state.get("unacknowledged")

        started = time.monotonic()
        await eventually(settled, timeout=60, interval=0.5, what=f"clock at {when.isoformat()}")
        self.waited["clock settings"] += time.monotonic() - started
        self.count("calendar.clock_settings")

    async def phase(self, label: str, work: Callable[[Progress], Awaitable[None]]) -> None:
        progress = Progress(label, quiet=self.cfg.quiet)
        await work(progress)
        self.phase_seconds[label] = progress.finish()

    async def gather(self, progress: Progress | None, coros: list[Awaitable[Any]]) -> list[Any]:
        """Run ``coros`` concurrently (the gateway client bounds what is in flight)."""
        if progress is not None:
            progress.add(len(coros))

        async def one(coro: Awaitable[Any]) -> Any:
            try:
                return await coro
            finally:
                if progress is not None:
                    progress.step()

        return await asyncio.gather(*(one(c) for c in coros))

    # --- the whole replay ------------------------------------------------------------------

    async def run(self) -> DemoResult:
        try:
            await self.phase("check", self.check)
            self.say(f"  generating {self.cfg.households} households (seed {self.cfg.seed}) …")
            self.population = pop.generate(self.cfg.households, self.cfg.seed)
            await self.phase("setup", self.setup)
            await self.phase("registration", self.register)
            await self.phase("go-live 2019", self.golive)
            await self.phase("events settling", self.settle)
            await self.phase("2019", self.year_2019)
            await self.phase("plan 2020", self.plan_2020)
            started = time.monotonic()
            await self.timeline.run(at(date(YEAR, 12, 31), 17, 0))
            self.phase_seconds.update({m: s for m, s in self.timeline.month_seconds.items()})
            self.phase_seconds["2020 (all months)"] = time.monotonic() - started
            kpis: dict[str, Any] | None = None

            async def year_end(progress: Progress) -> None:
                nonlocal kpis
                kpis = await self.year_end(progress)

            await self.phase("year end", year_end)
        finally:
            await self.gw.close()
        if os.environ.get("DEMO_PROFILE"):
            for what, seconds in self.timeline.tick_seconds.most_common(25):
                print(f"  profile {what:<60} {seconds:8.1f} s", file=sys.stderr)
            for what, seconds in self.timeline.seconds.most_common(25):
                print(f"  steps   {what:<60} {seconds:8.1f} s  ({self.timeline.done[what]})", file=sys.stderr)
        failures = [f"{f.when:%Y-%m-%d %H:%M} {f.label}: {f.error}" for f in self.timeline.failures]
        return DemoResult(counts=dict(sorted(self.counts.items())), phase_seconds=self.phase_seconds, kpis=kpis,
                          failures=failures, elapsed=time.monotonic() - self.started, requests=self.gw.requests,
                          waited=dict(self.waited))

    # --- 1. check ----------------------------------------------------------------------------

    async def check(self, progress: Progress) -> None:
        if not await self.gw.ready():
            raise DemoError(f"the suite is not answering at {self.gw.base_url}. Start it in another terminal with "
                            "`make run`, wait until it prints where to look, then run `make demo` again "
                            "(or give --gateway URL).")
        try:
            await self.gw.login(self.admin)
        except RuntimeError as exc:
            raise DemoError("the administrator's password was refused: give --admin-password or set ADMIN_PASSWORD") from exc
        towns = await self.gw.get(self.admin, "/api/v1/eligibility/towns", params={"year": YEAR})
        expected = {t.code: t.name for t in regions.TOWNS}
        found = {t["town"]: t["name"] for t in towns}
        if found != expected:
            raise DemoError(f"the suite's towns are not Quangang's: {found}")
        self.count("regions.towns", len(found))
        self.count("regions.villages", len(regions.VILLAGES))
        existing = await self.gw.get(self.admin, "/api/v1/eligibility/households", params={"limit": 1})
        if existing["items"]:
            raise DemoError("the suite already holds households: the demo replays 2019–2020 on a fresh suite "
                            "(stop it, remove .data/ and start it again with `make run`)")
        progress.step()

    # --- 2. setup ----------------------------------------------------------------------------

    async def setup(self, progress: Progress) -> None:
        await self.set_clock(at(GO_LIVE, 8, 30))
        # 2019's working days come from chinesecalendar in every service; 2020 is loaded in November.
        towns = [t.code for t in regions.TOWNS]
        password = secrets.token_urlsafe(12)

        async def user(username: str, roles: list[str], display: str, town: str | None = None, village: str | None = None) -> Actor:
            body: dict[str, Any] = {"username": username, "password": password, "display_name": display, "roles": roles}
            if town:
                body["town"] = town
            if village:
                body["village"] = village
            await self.gw.post(self.admin, "/api/v1/admin/users", body)
            self.count("setup.staff_accounts")
            return Actor(username, password, roles=tuple(roles), town=town, village=village)

        async def client(client_id: str, name: str, scopes: list[str]) -> Actor:
            made = await self.gw.post(self.admin, "/api/v1/admin/clients", {"client_id": client_id, "name": name, "scopes": scopes})
            self.count("setup.system_clients")
            return Actor(client_id, made["client_secret"], client=True)

        # More hands for a larger population (the rate limit is per account).
        staff = 1 if self.cfg.households < 5000 else 2
        jobs: list[Awaitable[Any]] = [user(f"qg-ops{i}", ["district_admin"], f"区民政局信息科 {i}") for i in range(1, 2 + staff)]
        jobs.append(user("qg-district-approver", ["district_approver"], "区民政局社会救助科审批"))
        for code in towns:
            name = regions.town(code).name
            jobs += [user(f"qg-{code}-cw{i}", ["town_caseworker"], f"{name}社会救助经办员{i}", code) for i in range(1, staff + 1)]
            jobs.append(user(f"qg-{code}-approver", ["town_approver"], f"{name}分管领导", code))
            jobs.append(user(f"qg-{code}-care", ["care_worker"], f"{name}护理员", code))
            jobs += [user(f"qg-{code}-vol{i}", ["volunteer"], f"{name}505志愿者{i}", code) for i in range(1, staff + 2)]
        clients = {
            "medical": client("qg-medical-insurance", "泉港区医疗保障局 (medical insurance)", ["medical_insurance"]),
            "statistics": client("qg-statistics", "国家统计局泉港调查队 (statistics)", ["statistics"]),
            "police": client("qg-public-security", "泉港公安分局户政 (public security)", ["public_security"]),
            "bank": client("qg-bank", "代发银行 (paying bank)", ["bank"]),
            "devices": client("qg-device-platform", "云守护平台 (device platform)", ["device_platform"]),
        }
        made = await self.gather(progress, list(clients.values()))
        self.clients = dict(zip(clients, made, strict=True))
        actors = await self.gather(progress, jobs)
        for actor in actors:
            name = actor.name
            if name.startswith("qg-ops"):
                self.operators.append(actor)
            elif name == "qg-district-approver":
                self.district_approver = actor
            elif name.endswith("-approver"):
                self.approvers[actor.town] = actor
            elif name.endswith("-care"):
                self.care_workers[actor.town] = actor
            elif "-cw" in name:
                self.caseworkers.setdefault(actor.town, []).append(actor)
            elif "-vol" in name:
                self.volunteers.setdefault(actor.town, []).append((actor, ""))
        # Volunteers are known to the care service by their token subject (R-LB-2 pairing).
        async def volunteer(town: str, index: int) -> None:
            actor, _ = self.volunteers[town][index]
            made = await self.gw.post(self.care_workers[town], "/api/v1/care/volunteers", {
                "sub": actor.name, "name": f"{regions.town(town).name}志愿者{index + 1}", "kind": "volunteer", "town": town,
                "team": "505志愿守护队"})
            self.volunteers[town][index] = (actor, made["id"])
            self.count("care.volunteers")

        await self.gather(progress, [volunteer(t, i) for t in towns for i in range(len(self.volunteers[t]))])
        # Registered population (户籍人口) per town for the coverage rate (R-DB-8): the synthetic
        # population is the district's.
        assert self.population is not None
        by_town = self.population.persons_by_town()
        await self.gather(progress, [
            self.gw.put(self.admin, f"/api/v1/eligibility/towns/{t}/population", {"year": y, "registered_population": max(1, by_town.get(t, 0))})
            for t in towns for y in (2019, YEAR)
        ])

    # --- 3. registration -------------------------------------------------------------------

    async def register(self, progress: Progress) -> None:
        """The population through ``POST /households:bulk`` (JSON, batches under the body limit)."""
        assert self.population is not None
        batches: list[list[str]] = [[]]
        size = 0
        for household in self.population.households:
            text = json.dumps(household.as_intake(), ensure_ascii=False, separators=(",", ":"))
            if size + len(text.encode()) > 1_800_000 or len(batches[-1]) >= 5000:
                batches.append([])
                size = 0
            batches[-1].append(text)
            size += len(text.encode()) + 1
        progress.add(len(self.population.households))
        refs = {h.ref: h for h in self.population.households}
        slots = asyncio.Semaphore(2)  # the intake writes with COPY: two batches at a time is plenty

        async def send(index: int, batch: list[str]) -> None:
            body = ('{"households":[' + ",".join(batch) + "]}").encode()
            async with slots:
                response = await self.gw.call(
                    self.operator(), "POST", "/api/v1/eligibility/households:bulk", content=body,
                    headers={"Content-Type": "application/json", "Idempotency-Key": f"demo-{self.cfg.seed}-batch-{index}"},
                )
            report = response.json()
            for row in report["rows"]:
                if row["status"] == "registered":
                    household = refs[row["ref"]]
                    household.household_id = row["household_id"]
                    self.by_id[row["household_id"]] = household
                    self.count("registry.households")
                    self.count("registry.persons", len(household.members))
                else:
                    self.count("registry.rejected")
            progress.step(len(batch))

        await asyncio.gather(*(send(i, b) for i, b in enumerate(batches)))
        if self.counts["registry.rejected"]:
            raise DemoError(f"{self.counts['registry.rejected']} households were refused by the bulk intake")

    async def members(self, household: pop.Household, actor: Actor | None = None) -> None:
        """Learn eligibility's person ids of a household (an audited staff read)."""
        if household.head.person_id is not None:
            return
        data = await self.gw.get(actor or self.caseworker(household.town), f"/api/v1/eligibility/households/{household.household_id}")
        ids = {m["id_number"]: m["person_id"] for m in data["members"]}
        for member in household.members:
            member.person_id = ids[member.id_number]
            self.person_ids[member.id_number] = member.person_id

    # --- 4. go-live --------------------------------------------------------------------------

    async def golive(self, progress: Progress) -> None:
        """Existing beneficiaries (存量对象) entered at go-live, effective January 2019."""
        assert self.population is not None
        # The seed data schedule the 2020 standard already; in this replay the bureau decides it
        # in December 2019 (R-DB-1), so the scheduled version is withdrawn first.
        versions = await self.gw.get(self.admin, "/api/v1/eligibility/parameters", params={"name": "dibao_standard"})
        for version in sorted(versions, key=lambda v: v["valid_from"], reverse=True):
            if version["valid_from"] > GO_LIVE.isoformat():
                await self.gw.call(self.admin, "DELETE", f"/api/v1/eligibility/parameters/{version['id']}")
                self.count("parameters.scheduled_withdrawn")
        households = [h for h in self.population.households if h.household_id]
        rng = self.rng
        dibao: list[pop.Household] = []
        person_entries: list[tuple[pop.Household, pop.Person, str]] = []
        for h in households:
            tekun_person = self.tekun_candidate(h)
            if tekun_person is not None:
                if rng.random() < 0.8:
                    person_entries.append((h, tekun_person, "tekun"))
                else:
                    self.tekun_2020.add(h.ref)
                continue
            if h.profile == "poor" and not h.disqualifying_asset and rng.random() < 0.75:
                dibao.append(h)
            for m in h.members:
                if m.orphan:
                    person_entries.append((h, m, "orphan"))
                elif m.child_without_care:
                    person_entries.append((h, m, "child_without_care"))
                elif m.revolutionary_veteran:
                    person_entries.append((h, m, "revolutionary_veteran"))
        need = {h.household_id: h for h in dibao} | {h.household_id: h for h, _, _ in person_entries}
        await self.gather(progress, [self.members(h, self.operator()) for h in need.values()])

        async def dibao_entry(h: pop.Household) -> None:
            result = await self.gw.post(self.operator(), f"/api/v1/eligibility/households/{h.household_id}/roster-entries",
                                        {"category": "dibao", "approved_on": GO_LIVE.isoformat(), "effective_month": "2019-01",
                                         "note": "存量低保对象 (go-live entry)"})
            self.golive_outcome(h, result, "dibao")

        async def person_entry(h: pop.Household, person: pop.Person, category: str) -> None:
            result = await self.gw.post(self.operator(), f"/api/v1/eligibility/households/{h.household_id}/roster-entries",
                                        {"category": category, "person_id": person.person_id, "approved_on": GO_LIVE.isoformat(),
                                         "effective_month": "2019-01", "note": "存量对象 (go-live entry)"})
            self.golive_outcome(h, result, category, person)

        await self.gather(progress, [dibao_entry(h) for h in dibao] + [person_entry(h, p, c) for h, p, c in person_entries])

    def golive_outcome(self, h: pop.Household, result: dict[str, Any], category: str, person: pop.Person | None = None) -> None:
        granted = [b for b in result["benefits"] if b["status"] in ("active", "gradual_exit")]
        outcome = result["decision"]["outcome"]
        if granted:
            for b in granted:
                self.benefits[h.household_id].add(b["category"])
                self.count(f"go-live.{b['category']}")
            if category == "tekun" and person is not None:
                self.tekun_persons.append((h, person))
        else:
            self.count(f"go-live.{category}_not_eligible")
        if outcome == "single_person_inclusion":
            self.count("go-live.single_person_inclusion")

    def tekun_candidate(self, h: pop.Household) -> pop.Person | None:
        """A person the tekun rules (R-TK-1) would support: alone, no income, no able supporter."""
        if h.profile != "poor" or len(h.members) != 1:
            return None
        person = h.members[0]
        unable = person.age_on(date(2019, 1, 2)) >= 60 or (person.disability_grade or 9) <= 2
        if unable and person.monthly_income == 0 and not any(s["able_to_support"] for s in person.supporters):
            return person
        return None

    async def settle(self, progress: Progress) -> None:
        """Wait until the subsidy roster (the payment runs' source) and the wishes service have
        taken in the registrations. Care catches up meanwhile: a care step whose person care does
        not know yet is put off to the next field day."""
        assert self.population is not None
        persons = self.counts["registry.persons"]
        progress.add(persons)
        started = time.monotonic()

        async def roster() -> bool:
            status = await self.gw.get(self.admin, "/api/v1/subsidy/roster")
            progress.done = min(persons, int(status["counts"].get("persons", 0)))
            progress.step(0)
            lag = status.get("lag")
            return lag is not None and not status.get("rebuilding") and all(v == 0 for v in lag.values())

        await eventually(roster, timeout=3600, interval=0.5, what="subsidy roster caught up")
        last = next(h for h in reversed(self.population.households) if h.household_id)

        async def wishes_know() -> bool:
            response = await self.gw.call(self.caseworker(last.town), "GET", f"/api/v1/wishes/families/{last.household_id}",
                                          allow=(404,))
            return response.status_code == 200

        await eventually(wishes_know, timeout=3600, interval=0.25, what="wishes know the households")
        progress.done = persons
        self.waited["registrations reaching the other services"] += time.monotonic() - started

    # --- 5. 2019 ------------------------------------------------------------------------------

    async def year_2019(self, progress: Progress) -> None:
        # October: the September CPI and its price subsidy (R-PS-1: food prices above 6 %).
        release = CPI_RELEASES["2019-09"]
        await self.set_clock(at(release, 10))
        await self.cpi_intake("2019-09", release)
        progress.step()
        await self.roster_settled()
        made = await self.payment_run("2019-09", "price", progress=progress)
        await self.set_clock(at(add_workdays(release, 2), 10))
        if made is not None:
            await self.bank_return(made["references"])
        # November: the 2020 arrangement as announced (国办发明电〔2019〕16号).
        await self.set_clock(at(date(2019, 11, 25), 10))
        await self.gw.put(self.admin, f"/api/v1/calendar/years/{YEAR}", announced_2020())
        self.count("calendar.years_loaded")
        progress.step()
        # December: the 2020 standard (R-DB-1), recalculating every live benefit from January.
        await self.set_clock(at(date(2019, 12, 20), 10))
        result = await self.gw.post(self.admin, "/api/v1/eligibility/parameters", {
            "name": "dibao_standard", "value": "720.00", "valid_from": f"{YEAR}-01-01",
            "note": "泉港民〔2020〕40号: 低保标准提高到每人每月720元"})
        recalc = result.get("recalculation") or {}
        self.count("parameters.standard_raised")
        self.count("parameters.benefits_recalculated", int(recalc.get("changed", 0)))
        progress.step()

    # --- shared steps --------------------------------------------------------------------------

    async def cpi_intake(self, month: str, released: date) -> None:
        """The statistics bureau sends a month's CPI (``POST /subsidy/cpi-figures``)."""
        with CPI_FILE.open(encoding="utf-8") as f:
            row = next(r for r in csv.DictReader(f) if r["month"] == month)
        await self.gw.post(self.clients["statistics"], "/api/v1/subsidy/cpi-figures", {
            "items": [{"month": month, "cpi_yoy_pct": row["cpi_yoy_pct"], "food_cpi_yoy_pct": row["food_cpi_yoy_pct"],
                       "released_on": released.isoformat(), "checked": row["checked"] == "yes"}],
            "source": "国家统计局 月度CPI (national)"})
        self.count("price.cpi_months")

    async def roster_settled(self, timeout: float = 600.0) -> None:
        """Wait until the subsidy roster has handled every event of eligibility and care."""
        async def settled() -> bool:
            status = await self.gw.get(self.admin, "/api/v1/subsidy/roster")
            lag = status.get("lag")
            return lag is not None and not status.get("rebuilding") and all(v == 0 for v in lag.values())

        started = time.monotonic()
        await eventually(settled, timeout=timeout, interval=0.2, what="subsidy roster caught up")
        self.waited["events reaching the subsidy roster"] += time.monotonic() - started

    async def payment_run(self, month: str, group: str, *, progress: Progress | None = None) -> dict[str, Any] | None:
        """Create a run (R-DS-2/3) and wait for its cross-check; approval and the bank follow."""
        try:
            run = await self.gw.post(self.admin, "/api/v1/subsidy/runs", {"month": month, "benefit_group": group},
                                     headers={"Idempotency-Key": f"demo-run-{month}-{group}"})
        except ApiError as exc:
            if exc.code in ("price_not_triggered", "cpi_not_checked", "cpi_missing"):
                self.count(f"price.not_paid_{exc.code}")
                return None
            raise
        self.count(f"runs.{group}")

        async def checked() -> dict[str, Any] | None:
            current = await self.gw.get(self.admin, f"/api/v1/subsidy/runs/{run['id']}")
            return current if current["status"] != "created" else None

        started = time.monotonic()
        run = await eventually(checked, timeout=300, interval=0.1, what=f"run {month} {group} checked")
        self.waited["payment runs' cross-checks"] += time.monotonic() - started
        self.count("runs.lines_payable", run["lines_payable"])
        self.count("runs.lines_dropped", run["lines_dropped"])
        self.count("runs.lines_carried_in", run["lines_carried_in"])
        if group == "price":
            self.count("price.runs")
            self.count("price.lines", run["lines_payable"])
        await self.gw.post(self.district_approver or self.admin, f"/api/v1/subsidy/runs/{run['id']}:approve")
        run = await self.gw.post(self.admin, f"/api/v1/subsidy/runs/{run['id']}/bank-file")
        self.count("runs.bank_files")
        response = await self.gw.call(self.clients["bank"], "GET", f"/api/v1/subsidy/runs/{run['id']}/bank-file")
        references = [r["reference"] for r in csv.DictReader(io.StringIO(response.text)) if r["account"] != "TOTAL"]
        if progress is not None:
            progress.step()
        return {"run": run, "references": references}

    async def bank_return(self, references: list[str]) -> None:
        """The bank's return file: most lines paid, a few failed (they go into the next run)."""
        if not references:
            return
        rows = []
        for reference in references:
            if self.rng.random() < 0.012:
                rows.append({"reference": reference, "status": "failed", "reason": self.rng.choice(FAIL_REASONS)})
            else:
                rows.append({"reference": reference, "status": "paid"})
        result = await self.gw.post(self.clients["bank"], "/api/v1/subsidy/bank-returns", {"rows": rows},
                                    headers={"Idempotency-Key": f"demo-return-{references[0]}-{len(rows)}"})
        self.count("bank.lines_paid", result["paid"])
        self.count("bank.lines_failed", result["failed"])

    # --- 6. the plan of 2020 ---------------------------------------------------------------

    async def plan_2020(self, progress: Progress) -> None:
        """Put the year's work on the timeline (each process schedules its own next steps)."""
        assert self.population is not None
        households = [h for h in self.population.households if h.household_id]
        tl = self.timeline
        # January: the reserves, the care homes.
        first = next_workday(date(YEAR, 1, 1))
        tl.on(first, self.book_reserves, "relief.reserves", order=10)
        tl.on(next_workday(first), self.open_homes, "care.homes", order=10)
        # 27 January: the Spring Festival extension (国办发明电〔2020〕1号).
        tl.on(date(YEAR, 1, 27), self.extend_spring_festival, "calendar.extension", order=5)
        # Payment runs, CPI, rechecks, feeds, allocation: monthly.
        for month in range(1, 13):
            days = workdays_of(YEAR, month)
            run_day = next(d for d in days if d.day >= 18)
            tl.on(run_day, self.monthly_runs_step(f"{YEAR}-{month:02d}"), "subsidy.runs", hour=14, order=60)
            # The office day: the medical insurance's and public security's files come in, the
            # caseworkers follow up referrals, beds are allocated; the approvers re-check after.
            office = days[min(3, len(days) - 1)]
            tl.on(office, self.medical_feed_step(month), "eligibility.medical_feed", order=20)
            tl.on(office, self.deaths_step(month), "eligibility.deaths", order=20)
            # (re-checks on another day than the deaths: one decision per benefit and instant)
            tl.on(add_workdays(office, 2), self.rechecks_step(), "eligibility.rechecks", order=30)
            tl.on(office, self.referrals_step(), "eligibility.referrals", hour=14, order=40)
            tl.on(office, self.allocate_beds, "care.allocation", hour=14, order=70)
        week = field_day(date(YEAR, 1, 2))
        while week.year == YEAR:
            tl.on(week, self.suggested_cases_step(), "relief.suggested_cases", hour=14, order=40)
            week = field_day(week + timedelta(days=7 - week.weekday() + 1))  # the next week's first field day
        for month_label, release in CPI_RELEASES.items():
            if release.year == YEAR:
                tl.on(release, self.cpi_step(month_label, release), "price.cpi", order=20)
        # Applications (R-DB-9 / R-TK-1).
        applicants = self.plan_applications(households)
        for day, h, category, person in applicants:
            tl.on_field(day, self.application_step(h, category, person), f"eligibility.application.{category}", hour=9)
        # Medical-expense files (they raise flags, referrals and expenditure-type relief).
        self.medical_plan = self.plan_medical(households)
        # Relief cases.
        for case in self.plan_relief(households):
            tl.on(case["day"], self.relief_case_step(case), "relief.case", hour=16, order=30)
        # Care: self-care assessments of the tekun already supported.
        for index, (h, person) in enumerate(self.tekun_persons):
            day = workdays_of(YEAR, 1 + index % 2)[3 + (index * 7) % 12]
            tl.on_field(day, self.assessment_step(h, person), "care.assessment", hour=11)
        # Left-behind registry, visit plans, devices.
        self.plan_left_behind(households)
        self.plan_devices(households)
        # Safe housing and the 505 wishes.
        self.plan_housing(households)
        tl.on_field(date(YEAR, 3, 2), self.campaign_step(households), "wishes.campaign", hour=9)
        progress.step()

    # --- applications ----------------------------------------------------------------------

    def plan_applications(self, households: list[pop.Household]) -> list[tuple[date, pop.Household, str, pop.Person | None]]:
        rng = self.rng
        weights = [6, 9, 12, 10, 9, 8, 8, 7, 7, 7, 6, 3]
        out: list[tuple[date, pop.Household, str, pop.Person | None]] = []

        def day_of_year() -> date:
            month = rng.choices(range(1, 13), weights)[0]
            days = workdays_of(YEAR, month)
            if month == 12:
                days = [d for d in days if d.day <= 4]
            return rng.choice(days)

        for h in households:
            if "dibao" in self.benefits[h.household_id] or "tekun" in self.benefits[h.household_id]:
                continue
            if h.ref in self.tekun_2020:
                out.append((day_of_year(), h, "tekun", h.members[0]))
            elif h.profile in ("poor", "near_poor"):
                out.append((day_of_year(), h, "dibao", None))
            elif h.profile == "edge" and (rng.random() < 0.08 or any((m.disability_grade or 9) <= 2 for m in h.living) and rng.random() < 0.5):
                out.append((day_of_year(), h, "dibao", None))
            elif h.profile == "normal" and rng.random() < 0.002:
                out.append((day_of_year(), h, "dibao", None))
        return out

    def application_step(self, h: pop.Household, category: str, person: pop.Person | None) -> Callable[[], Awaitable[None]]:
        """An application through the R-DB-9 (or R-TK-1) steps: acceptance and investigation,
        the town's opinion (from the dibao calculator on the household's figures), the public
        notice (now and then an objection), the decision, a refusal notified."""
        rng = random.Random(zlib.crc32(f"{h.ref}{category}".encode()) + self.cfg.seed)
        state = {"opinion": "approve", "upheld": False}

        async def accept() -> None:
            if h.household_id in self.applying and category == "dibao":
                return
            if person is not None:
                await self.members(h)
            body: dict[str, Any] = {"household_id": h.household_id, "category": category}
            if person is not None:
                body["person_id"] = person.person_id
            cw = self.caseworker(h.town)
            try:
                application = await self.gw.post(cw, "/api/v1/eligibility/applications", body)
            except ApiError as exc:
                if exc.code == "application_open":
                    return
                raise
            if category == "dibao":
                self.applying.add(h.household_id)
            self.count(f"applications.{category}_accepted")
            app_id = application["application_id"]
            await self.gw.post(cw, f"/api/v1/eligibility/applications/{app_id}:start-investigation")
            days = 10 if category == "tekun" else rng.choice((2, 3, 4, 5))
            self.timeline.on_field(add_workdays(self.timeline.now.date(), days), opinion(app_id), f"eligibility.application.{category}", hour=10)

        def opinion(app_id: str) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                cw = self.caseworker(h.town)
                eligible = True
                if category == "dibao":
                    verdict = await self.gw.post(cw, f"/api/v1/eligibility/households/{h.household_id}/dibao:evaluate", {})
                    eligible = verdict["eligible"] or verdict["outcome"] == "single_person_inclusion"
                path = f"/api/v1/eligibility/applications/{app_id}"
                state["opinion"] = "approve" if eligible else "refuse"
                await self.gw.post(cw, f"{path}:give-opinion", {
                    "opinion": "approve" if eligible else "refuse",
                    "note": "入户调查: 家庭人均收入低于标准" if eligible else "入户调查: 收入或财产超出规定"})
                if eligible:
                    notice = await self.gw.post(cw, f"{path}:publish-notice", {})
                    until = date.fromisoformat(notice["notice_until"])
                    self.timeline.on_field(next_workday(until), submit(app_id), f"eligibility.application.{category}", hour=9)
                    objection_day = field_day(next_workday(self.timeline.now.date()))
                    if rng.random() < 0.06 and objection_day < until:
                        self.timeline.on(objection_day, objection(app_id), f"eligibility.application.{category}", hour=14)
                else:
                    await self.gw.post(cw, f"{path}:submit")
                    self.timeline.on_field(add_workdays(self.timeline.now.date(), 2), decide(app_id), f"eligibility.application.{category}", hour=11)
            return step

        def objection(app_id: str) -> Callable[[], Awaitable[None]]:
            """A villager objects during the public notice (公示异议); the town verifies it."""
            async def step() -> None:
                made = await self.gw.post(self.caseworker(h.town), f"/api/v1/eligibility/applications/{app_id}/objections", {
                    "objector": "匿名村民", "objector_kind": rng.choice(("villager", "anonymous")),
                    "channel": rng.choice(("in_person", "phone", "letter")),
                    "content": "反映该户有家庭成员在外务工收入未申报"})
                self.count("applications.objections")
                self.timeline.on_field(next_workday(self.timeline.now.date()), resolve(app_id, made["objection_id"]),
                                 f"eligibility.application.{category}", hour=15)
            return step

        def resolve(app_id: str, objection_id: str) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                upheld = rng.random() < 0.25
                await self.gw.post(self.approvers[h.town], f"/api/v1/eligibility/applications/{app_id}/objections/{objection_id}:resolve", {
                    "outcome": "upheld" if upheld else "dismissed",
                    "reason": "经核实，外出务工收入属实，家庭人均收入超过标准" if upheld else "经入户核实，反映情况不属实"})
                self.count("applications.objections_upheld" if upheld else "applications.objections_dismissed")
                if upheld:
                    state["upheld"] = True
                    self.count(f"applications.{category}_refused")
                    self.applying.discard(h.household_id)
                    self.timeline.on_field(add_workdays(self.timeline.now.date(), 1), notify(app_id), f"eligibility.application.{category}", hour=10)
            return step

        def submit(app_id: str) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                if state["upheld"]:
                    return  # refused on an upheld objection
                try:
                    await self.gw.post(self.caseworker(h.town), f"/api/v1/eligibility/applications/{app_id}:submit")
                except ApiError as exc:
                    if exc.code != "objection_open":
                        raise
                    self.timeline.on_field(next_workday(self.timeline.now.date()), submit(app_id), f"eligibility.application.{category}", hour=9)
                    return
                days = rng.choice((1, 2, 3, 5, 8)) if category == "dibao" else rng.choice((3, 6, 10))
                self.timeline.on_field(add_workdays(self.timeline.now.date(), days), decide(app_id), f"eligibility.application.{category}", hour=11)
            return step

        def decide(app_id: str) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                approver = self.approvers[h.town]
                path = f"/api/v1/eligibility/applications/{app_id}"
                if state["opinion"] == "approve":
                    try:
                        result = await self.gw.post(approver, f"{path}:approve", {"note": "经审核，同意纳入"})
                        for b in result["benefits"]:
                            if b["status"] in ("active", "gradual_exit"):
                                self.benefits[h.household_id].add(b["category"])
                        self.count(f"applications.{category}_approved")
                        if result["decision"]["outcome"] == "single_person_inclusion":
                            self.count("applications.single_person_inclusion")
                        if category == "tekun" and person is not None:
                            self.tekun_persons.append((h, person))
                            self.timeline.on_field(add_workdays(self.timeline.now.date(), 12), self.assessment_step(h, person),
                                             "care.assessment", hour=11)
                        self.applying.discard(h.household_id)
                        return
                    except ApiError as exc:
                        if exc.code != "not_eligible":
                            raise
                await self.gw.post(approver, f"{path}:refuse", {"reasons": ["家庭人均收入或财产超出规定 (R-DB-3)"]})
                self.count(f"applications.{category}_refused")
                self.applying.discard(h.household_id)
                self.timeline.on_field(add_workdays(self.timeline.now.date(), rng.choice((1, 2))), notify(app_id),
                                 f"eligibility.application.{category}", hour=10)
            return step

        def notify(app_id: str) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                await self.gw.post(self.caseworker(h.town), f"/api/v1/eligibility/applications/{app_id}:notify-refusal")
                self.count("applications.refusals_notified")
            return step

        return accept

    def rechecks_step(self) -> Callable[[], Awaitable[None]]:
        """The households due for their re-check (R-DB-9: yearly, or 6-monthly with irregular
        income), each reassessed by its town's approver."""
        async def step() -> None:
            due = await self.gw.all(self.admin, "/api/v1/eligibility/rechecks", {"due_by": self.timeline.now.date().isoformat()})
            households = {item["household_id"]: item["town"] for item in due if item["household_id"] not in self.applying}

            async def recheck(household_id: str, town: str) -> None:
                try:
                    await self.gw.post(self.approvers[town], f"/api/v1/eligibility/households/{household_id}/reassessments",
                                       {"note": "定期复核"})
                    self.count("eligibility.rechecks")
                except ApiError as exc:
                    if exc.status not in (409, 422):
                        raise
                    self.count(f"eligibility.rechecks_{exc.code}")

            await asyncio.gather(*(recheck(h, t) for h, t in households.items()))
        return step

    # --- monitoring: medical feeds, referrals, deaths ------------------------------------------

    def plan_medical(self, households: list[pop.Household]) -> dict[int, list[tuple[pop.Household, pop.Person, int]]]:
        """Who the medical insurance reports each month: seriously ill members of poorer
        households mostly (about 0.2 % of households a month, at most 30)."""
        candidates = [h for h in households if h.profile != "normal"]
        plan: dict[int, list[tuple[pop.Household, pop.Person, int]]] = {}
        for month in range(1, 13):
            rng = random.Random(self.cfg.seed * 31 + month)
            share = min(30, max(1, round(len(households) * 0.002)))
            rows = []
            for h in rng.sample(candidates, min(share, len(candidates))):
                patient = next((m for m in h.living if m.serious_illness), rng.choice(h.living))
                amount = rng.randint(8, 60) * 500 if h.profile in ("poor", "near_poor") else rng.randint(40, 140) * 500
                rows.append((h, patient, amount))
            plan[month] = rows
        return plan

    def medical_feed_step(self, month: int) -> Callable[[], Awaitable[None]]:
        """The medical insurance's monthly file of out-of-pocket expenses (R-RM-1/2)."""
        async def step() -> None:
            settled = f"{YEAR}-{month - 1:02d}" if month > 1 else f"{YEAR - 1}-12"
            rows = [{"id_number": patient.id_number, "month": settled, "amount": q(amount), "reference": f"YB{YEAR}{month:02d}{i:05d}"}
                    for i, (_, patient, amount) in enumerate(self.medical_plan.get(month, []))
                    if patient.id_number not in self.deceased]
            if not rows:
                return
            report = await self.gw.post(self.clients["medical"], "/api/v1/eligibility/departments/medical-expenses", {"rows": rows},
                                        headers={"Idempotency-Key": f"demo-medical-{YEAR}-{month}"})
            batch = await self.gw.get(self.admin, f"/api/v1/eligibility/departments/batches/{report['batch_id']}")
            self.count("monitoring.medical_rows", batch["applied"])  # the sender's receipt does not say
        return step

    def referrals_step(self) -> Callable[[], Awaitable[None]]:
        """Caseworkers follow up assessment referrals (R-RM-5): a household the dibao rules find
        eligible is helped to apply (the referral closes with ``application_opened``); one
        already covered closes as ``not_needed``; the others stay open under watch."""
        async def step() -> None:
            referrals = await self.gw.all(self.admin, "/api/v1/eligibility/referrals", {"status": "open", "kind": "assessment"})

            async def follow(referral: dict[str, Any]) -> None:
                household_id = referral["household_id"]
                h = self.by_id.get(household_id)
                if h is None:
                    return
                cw = self.caseworker(referral["town"])
                if self.benefits[household_id] & {"dibao", "dibao_single_person", "tekun"} or household_id in self.applying:
                    outcome = "not_needed"
                else:
                    verdict = await self.gw.post(cw, f"/api/v1/eligibility/households/{household_id}/dibao:evaluate", {})
                    if not (verdict["eligible"] or verdict["outcome"] == "single_person_inclusion"):
                        self.count("monitoring.referrals_kept_under_watch")
                        return
                    outcome = "application_opened"
                await self.gw.post(cw, f"/api/v1/eligibility/referrals/{referral['referral_id']}:close", {
                    "outcome": outcome, "note": "已入户核查"})
                self.count(f"monitoring.referrals_{outcome}")
                if outcome == "application_opened":
                    self.timeline.on_field(next_workday(self.timeline.now.date()), self.application_step(h, "dibao", None),
                                           "eligibility.application.dibao", hour=9)

            fresh = [r for r in referrals if r["referral_id"] not in self.reviewed]
            self.reviewed.update(r["referral_id"] for r in fresh)
            await asyncio.gather(*(follow(r) for r in fresh))
        return step

    def deaths_step(self, month: int) -> Callable[[], Awaitable[None]]:
        """Public security's deaths of the month: a few elderly beneficiaries (R-DS-2 drops)."""
        async def step() -> None:
            assert self.population is not None
            rng = random.Random(self.cfg.seed * 53 + month)
            elderly = [
                m for hid, cats in self.benefits.items() if cats for m in self.by_id[hid].living
                if m.age_on(date(YEAR, month, 1)) >= 78 and m.id_number not in self.deceased
            ]
            if not elderly:
                return
            expected = len(elderly) * 0.004
            n = int(expected) + (rng.random() < expected - int(expected))
            if n == 0:
                return
            dead = rng.sample(elderly, min(len(elderly), n))
            today = self.timeline.now.date()
            rows = [{"id_number": m.id_number, "died_on": (today - timedelta(days=rng.randint(2, 20))).isoformat(),
                     "reference": f"HZ{YEAR}{month:02d}{i:04d}"} for i, m in enumerate(dead)]
            report = await self.gw.post(self.clients["police"], "/api/v1/eligibility/departments/deaths", {"rows": rows},
                                        headers={"Idempotency-Key": f"demo-deaths-{YEAR}-{month}"})
            for m in dead:
                self.deceased.add(m.id_number)
            batch = await self.gw.get(self.admin, f"/api/v1/eligibility/departments/batches/{report['batch_id']}")
            self.count("registry.deaths", batch["applied"])  # the sender's receipt does not say
        return step

    # --- relief ------------------------------------------------------------------------------

    async def book_reserves(self) -> None:
        """Each town's reserve fund (备用金) for the year (R-TR-4), sized from last year's cases."""
        for code, planned in sorted(self.planned_reserve.items()):
            factor = Decimal("1.25") if code in self.generous_towns else Decimal("1.04")
            amount = max(Decimal(1000), (Decimal(planned) * factor / 1000).quantize(Decimal(1), ROUND_HALF_UP) * 1000)
            await self.gw.post(self.district_approver, f"/api/v1/relief/reserves/{code}/{YEAR}/entries", {
                "kind": "allocation", "amount": q(amount), "reference": f"泉港财社〔{YEAR}〕{3 + len(code) % 7}号",
                "note": "年度临时救助备用金"}, headers={"Idempotency-Key": f"demo-reserve-{code}-{YEAR}"})
            self.count("relief.reserves_allocated")

    async def with_reserve(self, town: str, amount: Decimal, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()`` (an approval or payment from the town's reserve); when the reserve is short
        (409 ``reserve_insufficient``, R-TR-4) the district tops it up and the town tries again."""
        for attempt in range(4):
            try:
                return await call()
            except ApiError as exc:
                if exc.code != "reserve_insufficient" or attempt == 3:
                    raise
            await self.gw.post(self.district_approver, f"/api/v1/relief/reserves/{town}/{YEAR}/entries", {
                "kind": "top_up", "amount": q(self.top_up(amount)), "note": "备用金不足，追加"})
            self.count("relief.reserve_top_ups")
        raise AssertionError("unreachable")

    def top_up(self, amount: Decimal) -> Decimal:
        """A top-up when a town's reserve runs short: what the case needs, rounded up, and a margin."""
        return (amount * Decimal("1.5") / 1000).quantize(Decimal(1), ROUND_HALF_UP) * 1000 + 1000

    def plan_relief(self, households: list[pop.Household]) -> list[dict[str, Any]]:
        rng = self.rng
        n = max(6, round(len(households) * 0.015))
        registered = [h for h in households if h.profile in ("poor", "near_poor", "edge")] or households
        others = households
        cases: list[dict[str, Any]] = []
        # Accepted just before a long holiday: the 5 working days run across it (R-TR-2).
        special = [date(YEAR, 1, 21), date(YEAR, 9, 29), date(YEAR, 1, 22), date(YEAR, 9, 28), date(YEAR, 1, 23), date(YEAR, 9, 30),
                   date(YEAR, 4, 30), date(YEAR, 6, 23)]
        towns = [t.code for t in regions.TOWNS]
        self.generous_towns = set(rng.sample(towns, 2))
        for i in range(n):
            if i < min(len(special) * 2, max(2, n // 3)):
                day = special[i % len(special)]
            else:
                month = rng.choices(range(1, 13), [5, 9, 9, 7, 6, 6, 6, 6, 6, 6, 6, 4])[0]
                days = [d for d in workdays_of(YEAR, month) if d <= date(YEAR, 12, 20)]
                day = rng.choice(days)
            accepted_at = at(day, rng.randint(8, 13), rng.choice((0, 15, 30, 45)))  # opened in the afternoon session
            kind_draw = rng.random()
            if kind_draw < 0.1:
                applicant = {"type": "non_local", "category": rng.choice(("migrant_worker", "floating_population"))}
                town = rng.choice(("350505001", "350505100", "350505102"))  # where the petrochemical works are
                h = None
            elif kind_draw < 0.12:
                applicant = {"type": "vagrant"}
                town = rng.choice(towns)
                h = None
            else:
                h = rng.choice(registered if rng.random() < 0.8 else others)
                applicant = {"type": "registered"}
                town = h.town
            epidemic = date(YEAR, 1, 24) <= day <= date(YEAR, 4, 30) and rng.random() < 0.5
            cause = "epidemic" if epidemic else rng.choice(("accident", "acute_illness", "disaster", "accident", "acute_illness", "job_loss"))
            amount = Decimal(rng.choice((800, 1000, 1500, 2000, 2000, 2500, 3000, 3000, 3500, 4000, 5000)))
            if applicant["type"] == "non_local":
                amount = min(amount, Decimal(2000))
            # Paid within the 5 working days, mostly; a few late (breaches of R-TR-2).
            pay_after = rng.choice((1, 2, 2, 3, 3, 4, 5)) if rng.random() > 0.08 else rng.choice((6, 7, 9))
            refused = rng.random() < 0.04
            case = {"i": i, "day": day, "accepted_at": accepted_at, "town": town, "household": h, "applicant": applicant,
                    "cause": cause, "amount": amount, "pay_after": pay_after, "refused": refused,
                    "missing_docs": rng.random() < 0.25}
            if applicant["type"] != "vagrant" and not refused and amount <= 3000:
                self.planned_reserve[town] += int(amount)
            cases.append(case)
        # Expenditure-type cases follow most medical-expense reports of poorer households (R-RM-5).
        for rows in self.medical_plan.values():
            for h, _, _ in rows:
                self.planned_reserve[h.town] += 1700
        for code in towns:
            self.planned_reserve.setdefault(code, 0)
        return cases

    def relief_case_step(self, case: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        rng = random.Random(self.cfg.seed * 101 + case["i"])

        async def open_case() -> None:
            town = case["town"]
            cw = self.caseworker(town)
            applicant = dict(case["applicant"])
            if applicant["type"] == "registered":
                h: pop.Household = case["household"]
                person = next((m for m in h.living if m.age_on(case["day"]) >= 18 and m.id_number not in self.deceased), None)
                if person is None:
                    return
                applicant["id_number"] = person.id_number
            elif applicant["type"] == "non_local":
                birth = date(rng.randint(1968, 2000), rng.randint(1, 12), rng.randint(1, 28))
                sex = rng.choice(("male", "female"))
                from shared.ids import make_id_number

                applicant["id_number"] = make_id_number(rng.choice(NON_LOCAL_REGIONS), birth, rng.randint(0, 499), sex)
                applicant["name"] = rng.choice(("刘", "王", "张", "杨", "陈", "黄", "赵", "吴", "周", "罗")) + rng.choice(
                    ("建国", "志勇", "海燕", "春梅", "小兵", "桂英", "国强", "秀兰", "德华", "丽娟"))
            docs = ["application", "id_card", "incident_proof", "bank_account"]
            missing = rng.sample(("incident_proof", "bank_account"), 1) if case["missing_docs"] else []
            body: dict[str, Any] = {
                "kind": "emergency", "town": town, "applicant": applicant, "cause": case["cause"],
                "reason": {"epidemic": "疫情期间务工收入中断，生活暂时困难", "accident": "家庭成员意外受伤，急需医疗费用",
                           "acute_illness": "突发重病住院，家庭难以承担", "disaster": "台风致房屋受损，基本生活困难",
                           "job_loss": "企业停工失去收入，基本生活困难"}[case["cause"]],
                "accepted_at": case["accepted_at"].isoformat(),
                "documents": [{"code": d, "received": d not in missing} for d in docs],
                "checks": [{"method": "phone" if case["cause"] == "epidemic" else rng.choice(("home_visit", "phone", "wechat")),
                            "checked_at": case["accepted_at"].isoformat(), "note": "核实困难情况"}],
            }
            if applicant["type"] != "vagrant":
                body["amount"] = q(case["amount"])
            try:
                opened = await self.gw.post(cw, "/api/v1/relief/cases", body,
                                            headers={"Idempotency-Key": f"demo-case-{self.cfg.seed}-{case['i']}"})
            except ApiError as exc:
                if exc.code == "unknown_person":  # the registry projection has not reached relief yet
                    self.timeline.on(next_workday(self.timeline.now.date()), open_case, "relief.case", order=30)
                    self.count("relief.cases_retried")
                    return
                raise
            self.count("relief.cases_opened")
            if applicant["type"] == "non_local":
                self.count("relief.non_local")
            if opened["status"] == "referred":
                self.count("relief.referred_to_rescue_station")
                return
            decide_day = self.timeline.now.date() if rng.random() < 0.6 else add_workdays(self.timeline.now.date(), 1)
            self.timeline.on(decide_day, decide(opened["id"], missing), "relief.case", hour=16, order=31)

        def decide(case_id: str, missing: list[str]) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                town = case["town"]
                approver = self.approvers[town] if case["amount"] <= 3000 else self.district_approver
                if case["refused"]:
                    await self.gw.post(approver, f"/api/v1/relief/cases/{case_id}/refusal", {"reason": "经核查不符合临时救助条件"})
                    self.count("relief.cases_refused")
                    return
                approved = await self.with_reserve(town, case["amount"], lambda: self.gw.post(
                    approver, f"/api/v1/relief/cases/{case_id}/approval", {"amount": q(case["amount"]), "note": "同意救助"}))
                self.count("relief.cases_approved")
                assert approved["status"] == "approved"
                pay_day = add_workdays(case["day"], case["pay_after"])
                pay_day = max(pay_day, self.timeline.now.date())
                self.timeline.on(pay_day, pay(case_id), "relief.case", hour=15, order=32)
                if missing:
                    self.timeline.on_field(add_workdays(pay_day, rng.choice((2, 4, 6, 12))), papers(case_id, missing), "relief.case", hour=10)
            return step

        def pay(case_id: str) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                payer = self.caseworker(case["town"]) if case["amount"] <= 3000 else self.operator()  # R-TR-3: who paid
                payment = await self.with_reserve(case["town"], case["amount"], lambda: self.gw.post(
                    payer, f"/api/v1/relief/cases/{case_id}/payment",
                    {"reference": f"QGLS{YEAR}{case['i']:06d}", "amount": q(case["amount"])},
                    headers={"Idempotency-Key": f"demo-pay-{self.cfg.seed}-{case['i']}"}))
                # The deadline as it stands now: a calendar loaded since (the Spring Festival
                # extension) recomputes the deadlines of open cases.
                case_now = await self.gw.get(payer, f"/api/v1/relief/cases/{case_id}")
                on_time = case_now["sla"]["state"] == "met"
                self.count("relief.cases_paid")
                self.count("relief.paid_on_time" if on_time else "relief.paid_late")
                if payment["fund"] == "town_reserve":
                    self.count("relief.paid_from_reserve")
            return step

        def papers(case_id: str, missing: list[str]) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                await self.gw.put(self.caseworker(case["town"]), f"/api/v1/relief/cases/{case_id}/documents",
                                  {"documents": [{"code": d, "received": True} for d in missing]})
                self.count("relief.papers_completed")
            return step

        return open_case

    def suggested_cases_step(self) -> Callable[[], Awaitable[None]]:
        """Expenditure-type cases suggested from eligibility's referrals (R-RM-5): accepted,
        approved by the town and paid a few days later."""
        async def step() -> None:
            suggested = await self.gw.all(self.admin, "/api/v1/relief/cases", {"status": "suggested"})
            by_town: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for case in suggested:
                by_town[case["town"]].append(case)

            async def town(code: str) -> None:
                cw = self.caseworker(code)
                for case in by_town[code]:
                    h = self.by_id.get(case["applicant"]["household_id"] or "")
                    if h is None:
                        continue
                    person = next((m for m in h.living if m.age_on(self.timeline.now.date()) >= 18 and m.id_number not in self.deceased), None)
                    if person is None:
                        continue
                    suggested_amount = Decimal(case.get("suggested_amount") or "2000")
                    amount = min(suggested_amount, Decimal(3000)).quantize(Decimal(100))
                    amount = max(amount, Decimal(500))
                    accepted = await self.gw.post(cw, f"/api/v1/relief/cases/{case['id']}/acceptance", {
                        "applicant": {"type": "registered", "id_number": person.id_number}, "amount": q(amount),
                        "cause": "medical_expense", "reason": "医疗支出过大，家庭基本生活困难 (支出型)",
                        "documents": [{"code": c, "received": True} for c in (
                            "application", "id_card", "household_register", "income_statement", "expense_receipts", "bank_account")]})
                    self.count("relief.expenditure_accepted")
                    await self.with_reserve(code, amount, lambda: self.gw.post(
                        self.approvers[code], f"/api/v1/relief/cases/{accepted['id']}/approval",
                        {"amount": q(amount), "note": "同意支出型临时救助"}))
                    self.count("relief.expenditure_approved")
                    pay_day = add_workdays(self.timeline.now.date(), self.rng.choice((2, 3, 5, 8)))
                    self.timeline.on_field(pay_day, self.pay_expenditure(code, accepted["id"], amount), "relief.case", hour=15)

            await asyncio.gather(*(town(code) for code in by_town))
        return step

    def pay_expenditure(self, town: str, case_id: str, amount: Decimal) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.with_reserve(town, amount, lambda: self.gw.post(
                self.caseworker(town), f"/api/v1/relief/cases/{case_id}/payment", {"reference": f"QGZC{case_id[:8]}", "amount": q(amount)},
                headers={"Idempotency-Key": f"demo-pay-{case_id}"}))
            self.count("relief.cases_paid")
            self.count("relief.expenditure_paid")
        return step

    # --- subsidy: runs, CPI, housing ----------------------------------------------------------

    def cpi_step(self, month: str, released: date) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.cpi_intake(month, released)
            figure = await self.gw.get(self.admin, f"/api/v1/subsidy/cpi-figures/{month}")
            if figure["triggered"] and figure["checked"]:
                self.count("price.months_triggered")
                run_day = next(d for d in workdays_of(released.year, released.month) if d >= released + timedelta(days=5))
                self.timeline.on(run_day, self.price_run_step(month), "subsidy.price_run", hour=14, order=61)
            else:
                self.count("price.months_not_triggered")
        return step

    def price_run_step(self, month: str) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.roster_settled()
            made = await self.payment_run(month, "price")
            if made is not None:
                self.timeline.on(add_workdays(self.timeline.now.date(), 2), self.bank_step(made["references"]), "subsidy.bank_return", hour=10)
        return step

    def monthly_runs_step(self, month: str) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.roster_settled()
            groups = sorted(self.run_groups | ({"housing"} if month in self.housing_months else set()))
            made = await asyncio.gather(*(self.payment_run(month, g) for g in groups))
            references = [r for m in made if m for r in m["references"]]
            self.timeline.on(add_workdays(self.timeline.now.date(), 2), self.bank_step(references), "subsidy.bank_return", hour=10)
        return step

    def bank_step(self, references: list[str]) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.bank_return(references)
        return step

    def plan_housing(self, households: list[pop.Household]) -> None:
        """Safe-housing projects (R-HS-1) for rural dibao/tekun households, in tranches."""
        rng = self.rng
        candidates = [h for h in households if h.rural and self.benefits[h.household_id] & {"dibao", "tekun"}]
        n = min(56, max(1, round(len(candidates) * 0.12))) if candidates else 0
        for index, h in enumerate(rng.sample(candidates, n)):
            planned = field_day(rng.choice(workdays_of(YEAR, rng.choice((2, 3)))))
            started = rng.choice(workdays_of(YEAR, rng.choice((3, 4, 5))))
            structure = rng.choice(workdays_of(YEAR, rng.choice((6, 7, 8))))
            accepted = rng.choice(workdays_of(YEAR, rng.choice((9, 10, 11, 12)))[:15]) if index % 19 != 7 else None
            steps = [("started", max(started, planned + timedelta(days=7))), ("structure_done", structure)]
            if accepted:
                steps.append(("accepted", accepted))
            self.timeline.on(planned, self.housing_step(h, rng.randint(40, 60) * 1000, planned, steps), "subsidy.housing", hour=10)

    def housing_step(self, h: pop.Household, subsidy: int, planned: date, steps: list[tuple[str, date]]) -> Callable[[], Awaitable[None]]:
        async def create() -> None:
            await self.members(h)
            project = await self.gw.post(self.caseworker(h.town), "/api/v1/subsidy/housing-projects", {
                "household_id": h.household_id, "person_id": h.head.person_id, "town": h.town, "village": h.village,
                "subsidy": q(subsidy), "planned_on": planned.isoformat(), "description": "低保安居工程: 危房翻建"})
            self.count("housing.projects")
            for milestone, day in steps:
                self.timeline.on_field(day, milestone_step(project["id"], milestone), "subsidy.housing", hour=11)

        def milestone_step(project_id: str, milestone: str) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                day = self.timeline.now.date()
                await self.gw.post(self.approvers[h.town], f"/api/v1/subsidy/housing-projects/{project_id}/milestones",
                                   {"milestone": milestone, "reached_on": day.isoformat()})
                self.count(f"housing.{milestone}")
                self.housing_months.add(f"{day:%Y-%m}")
            return step

        return create

    # --- care ----------------------------------------------------------------------------------

    async def care_person(self, person: pop.Person, town: str, *, wait: bool = True) -> str | None:
        """Care's id of a registry person (care learns persons from eligibility's events); None
        when care does not know the person yet and ``wait`` is False."""
        assert person.person_id is not None
        if person.person_id in self.care_ids:
            return self.care_ids[person.person_id]

        async def found() -> str | None:
            page = await self.gw.get(self.care_workers[town], "/api/v1/care/persons", params={"eligibility_person_id": person.person_id})
            return page["items"][0]["id"] if page["items"] else None

        if not wait:
            care_id = await found()
            if care_id is not None:
                self.care_ids[person.person_id] = care_id
            return care_id
        started = time.monotonic()
        care_id = await eventually(found, timeout=3600, interval=0.25, what="care knows the person")
        self.waited["events reaching care"] += time.monotonic() - started
        self.care_ids[person.person_id] = care_id
        return care_id

    def put_off(self, key: str, step: Callable[[], Awaitable[None]], label: str) -> bool:
        """Care has not yet taken in the registry's events this step needs: do it on the next field
        day instead (True), so the replay goes on meanwhile — at most 40 times, then wait (False)."""
        self.deferrals[key] += 1
        if self.deferrals[key] > 40:
            return False
        self.timeline.on_field(self.timeline.now.date() + timedelta(days=1), step, label)
        self.count("care.steps_put_off_until_care_knew_the_person")
        return True

    async def open_homes(self) -> None:
        """The district's care homes (敬老院, 福利中心) with nursing beds (R-TK-3), and their accounts
        for the district's share of fees (R-TK-4)."""
        expected_full_loss = max(2, round(len(self.tekun_persons) * 1.15 * 0.3))
        nursing_total = max(2, round(expected_full_loss * 0.55))
        homes = [("350505001", "泉港区社会福利中心", "welfare_centre", 0.34)] + [
            (t.code, f"{t.name}敬老院", "rural_happiness_home", 0.66 / 5) for t in regions.TOWNS[1:6]]
        for index, (town, name, kind, share) in enumerate(homes):
            nursing = max(1, round(nursing_total * share))
            beds = nursing + max(2, round(nursing * 0.8))
            home = await self.gw.post(self.admin, "/api/v1/care/homes", {"name": name, "kind": kind, "town": town, "beds": beds,
                                                                           "nursing_beds": nursing})
            self.homes.append(home)
            self.count("care.homes")
            self.count("care.nursing_beds", nursing)
            await self.gw.put(self.admin, f"/api/v1/subsidy/care-homes/{home['id']}/account",
                              {"home_name": name, "bank_account": f"35050{index + 1:02d}00012345678"})

    def assessment_step(self, h: pop.Household, person: pop.Person) -> Callable[[], Awaitable[None]]:
        """A tekun person's self-care assessment (R-TK-2), willingness and waiting list (R-TK-3)."""
        rng = random.Random(zlib.crc32(person.id_number.encode()) + self.cfg.seed)
        items = ["eating", "dressing", "bed_transfer", "toileting", "walking_indoors", "bathing"]
        draw = rng.random()
        not_achieved = rng.sample(items, rng.randint(4, 6) if draw < 0.32 else rng.randint(1, 3) if draw < 0.65 else 0)
        willing = rng.random()
        key = f"assessment:{person.id_number}"

        async def step() -> None:
            await self.members(h)
            waited = self.deferrals[key] >= 40
            care_id = await self.care_person(person, h.town, wait=waited)
            if care_id is None and self.put_off(key, step, "care.assessment"):
                return
            worker = self.care_workers[h.town]
            today = self.timeline.now.date()

            async def assessed() -> dict[str, Any] | None:
                try:
                    return await self.gw.post(worker, f"/api/v1/care/persons/{care_id}/assessments", {
                        "not_achieved": not_achieved, "assessed_on": today.isoformat(), "assessor": worker.name,
                        "note": "生活自理能力评估"})
                except ApiError as exc:
                    if exc.code == "not_tekun":  # the grant has not reached care yet
                        return None
                    raise

            try:
                result = await assessed()
            except ApiError as exc:
                if exc.code == "person_deceased":
                    self.count("care.assessments_not_needed_deceased")
                    return
                raise
            if result is None:
                if self.put_off(key, step, "care.assessment"):
                    return
                result = await eventually(assessed, timeout=3600, interval=1.0, what="care knows the tekun person")
            self.count(f"care.assessed_{result['level']}")
            if result["level"] == "self_care":
                return
            willing_now = willing < (0.75 if result["level"] == "full_loss" else 0.3)
            await self.gw.put(worker, f"/api/v1/care/persons/{care_id}/willingness", {"willing": willing_now, "recorded_on": today.isoformat()})
            self.count("care.willing" if willing_now else "care.not_willing")
            if willing_now:
                await self.gw.post(worker, f"/api/v1/care/persons/{care_id}/placement-requests", {"requested_on": today.isoformat()})
                self.count("care.placement_requests")
            elif result["level"] == "full_loss" and self.volunteers.get(h.town):
                # Cared for at home: a visit plan for a dependent elderly person (R-LB-2).
                self.timeline.on_field(add_workdays(today, 3), self.plan_visits(h, person, "dependent_elderly", today), "care.visit_plan", hour=10)

        return step

    async def allocate_beds(self) -> None:
        if not self.homes:
            return
        result = await self.gw.post(self.admin, "/api/v1/care/placements:allocate", {})
        self.count("care.placements", len(result["placements"]))

    def plan_left_behind(self, households: list[pop.Household]) -> None:
        """The left-behind registry (R-LB-1) and the visit plans of its people (R-LB-2)."""
        rng = self.rng
        left_behind = [(h, m) for h in households for m in h.members if m.left_behind]
        # A tenth of them enter the registry this year (at least a dozen, at most 320); half of
        # those get a visit plan paired with a volunteer.
        chosen = rng.sample(left_behind, min(len(left_behind), 320, max(12, len(left_behind) // 10)))
        for index, (h, m) in enumerate(chosen):
            day = rng.choice(workdays_of(YEAR, rng.choice((1, 2, 3)))[:12])
            self.timeline.on_field(day, self.left_behind_step(h, m, index % 2 == 0), "care.left_behind", hour=14)
        for h in households:
            if any(m.disability_kind == "mental" and (m.disability_grade or 9) <= 2 for m in h.living) and rng.random() < 0.3:
                patient = next(m for m in h.living if m.disability_kind == "mental" and (m.disability_grade or 9) <= 2)
                day = rng.choice(workdays_of(YEAR, 2)[:10])
                self.timeline.on(field_day(day), self.plan_visits(h, patient, "mental_disorder_family", field_day(day)), "care.visit_plan", hour=14)

    def left_behind_step(self, h: pop.Household, person: pop.Person, with_plan: bool) -> Callable[[], Awaitable[None]]:
        """An entry of the left-behind registry (R-LB-1) with the facts of its category."""
        rng = random.Random(zlib.crc32(f"{person.id_number}left".encode()) + self.cfg.seed)
        category = person.left_behind
        facts: dict[str, Any]
        if category == "child":
            facts = {"parents": "both_away", "absence_months": rng.randint(8, 60), "guardian": "grandparent"}
        elif category == "elderly":
            facts = {"children_away": True, "absence_months": rng.randint(8, 60), "living": "with_grandchildren"}
        else:
            facts = {"husband_away": True, "absence_months": rng.randint(7, 48)}
        key = f"left-behind:{person.id_number}"

        async def step() -> None:
            await self.members(h)
            care_id = await self.care_person(person, h.town, wait=self.deferrals[key] >= 40)
            if care_id is None and self.put_off(key, step, "care.left_behind"):
                return
            today = self.timeline.now.date()
            try:
                await self.gw.post(self.caseworker(h.town), "/api/v1/care/left-behind",
                                   {"person_id": care_id, "category": category, "facts": facts, "entered_on": today.isoformat()})
            except ApiError as exc:
                if exc.code in ("criteria_not_met", "already_registered", "person_deceased"):
                    self.count(f"care.left_behind_{exc.code}")
                    return
                raise
            self.count(f"care.left_behind_{category}")
            if with_plan:
                await self.plan_visits(h, person, f"left_behind_{category}", today)()
        return step

    def plan_visits(self, h: pop.Household, person: pop.Person, category: str, starts: date) -> Callable[[], Awaitable[None]]:
        """A visit plan paired with a volunteer of the town, and a year of visits: mostly on
        time, some late, a few plans left unvisited after a while (missed periods)."""
        rng = random.Random(zlib.crc32(f"{person.id_number}{category}".encode()) + self.cfg.seed)

        key = f"plan:{person.id_number}:{category}"

        async def step() -> None:
            await self.members(h)
            care_id = await self.care_person(person, h.town, wait=self.deferrals[key] >= 40)
            if care_id is None and self.put_off(key, step, "care.visit_plan"):
                return
            user, volunteer_id = rng.choice(self.volunteers[h.town])
            try:
                plan = await self.gw.post(self.care_workers[h.town], "/api/v1/care/visit-plans", {
                    "person_id": care_id, "category": category, "volunteer_id": volunteer_id, "starts_on": starts.isoformat()})
            except ApiError as exc:
                if exc.code in ("plan_exists", "person_deceased"):
                    return
                raise
            self.count("care.visit_plans")
            stop_after = date(YEAR, rng.randint(8, 11), 1) if rng.random() < 0.06 else None
            due = date.fromisoformat(plan["next_due"])
            self.schedule_visit(h, person, plan["id"], user, due, plan["interval_days"], stop_after, rng,
                                after=date.fromisoformat(plan["starts_on"]))

        return step

    def schedule_visit(self, h: pop.Household, person: pop.Person, plan_id: str, user: Actor, due: date, interval: int,
                       stop_after: date | None, rng: random.Random, *, after: date) -> None:
        """The next visit: on a field day by its due date, or (one in twelve) a few days late."""
        late = rng.random() < 0.08
        if late:
            day = field_day(due + timedelta(days=rng.randint(2, 9)))
        else:
            day = last_field_day(due - timedelta(days=rng.randint(0, min(5, interval // 3))), after + timedelta(days=1)) \
                or field_day(after + timedelta(days=1))
        if day.year > YEAR or day > date(YEAR, 12, 30) or (stop_after and day >= stop_after):
            return
        if person.id_number in self.deceased:
            return

        async def visit() -> None:
            if person.id_number in self.deceased:
                return
            today = self.timeline.now.date()
            epidemic = date(YEAR, 1, 24) <= today <= date(YEAR, 3, 31)
            try:
                made = await self.gw.post(user, f"/api/v1/care/visit-plans/{plan_id}/visits", {
                    "visited_on": today.isoformat(), "method": rng.choice(("phone", "wechat")) if epidemic else
                    rng.choice(("home_visit", "home_visit", "home_visit", "phone")),
                    "findings": "身体状况良好，生活正常" if rng.random() < 0.9 else "近期身体欠佳，已提醒家属关注"},
                    headers={"Idempotency-Key": f"demo-visit-{plan_id}-{today.isoformat()}"})
            except ApiError as exc:
                if exc.code in ("plan_ended", "person_deceased"):
                    return
                raise
            self.count("care.visits")
            self.count("care.visits_on_time" if made["on_time"] else "care.visits_late")
            next_due = date.fromisoformat(made["next_due"]) if made.get("next_due") else today + timedelta(days=interval)
            self.schedule_visit(h, person, plan_id, user, next_due, interval, stop_after, rng, after=today)

        self.timeline.on(day, visit, "care.visit", hour=rng.choice((10, 15)))

    def plan_devices(self, households: list[pop.Household]) -> None:
        """Monitoring devices (云守护) for elderly people living alone, and their alerts (R-LB-3)."""
        rng = self.rng
        alone = [h for h in households if h.structure == "lonely_elderly"]
        for index, h in enumerate(rng.sample(alone, min(len(alone), max(1, len(alone) // 12), 90))):
            installed = rng.choice(workdays_of(YEAR, 3)[:15])
            serial = f"YSH{self.cfg.seed % 100:02d}{index:05d}"
            alerts = sorted(rng.sample([d for d in range(100, 350)], rng.choice((1, 2, 2, 3))))
            self.timeline.on_field(installed, self.device_step(h, serial, rng.choice(("sos_button", "fall_detector", "smart_watch")), alerts),
                             "care.device", hour=15)

    def device_step(self, h: pop.Household, serial: str, kind: str, alert_days: list[int]) -> Callable[[], Awaitable[None]]:
        rng = random.Random(zlib.crc32(serial.encode()))

        key = f"device:{serial}"

        async def install() -> None:
            await self.members(h)
            care_id = await self.care_person(h.head, h.town, wait=self.deferrals[key] >= 40)
            if care_id is None and self.put_off(key, install, "care.device"):
                return
            try:
                await self.gw.post(self.care_workers[h.town], "/api/v1/care/devices", {
                    "serial": serial, "kind": kind, "person_id": care_id, "installed_on": self.timeline.now.date().isoformat()})
            except ApiError as exc:
                if exc.code != "person_deceased":
                    raise
                return
            self.count("care.devices")
            for n, offset in enumerate(alert_days):
                day = date(YEAR, 1, 1) + timedelta(days=offset)
                if day <= self.timeline.now.date():
                    continue
                self.timeline.on(day, alert(n), "care.alert", hour=rng.choice((8, 14, 20)), order=20)

        def alert(n: int) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                if h.head.id_number in self.deceased:
                    return
                now = self.timeline.now
                made = await self.gw.post(self.clients["devices"], "/api/v1/care/alerts", {
                    "device_serial": serial, "kind": rng.choice(("sos", "fall", "inactivity")),
                    "occurred_at": (now - timedelta(minutes=rng.randint(1, 4))).isoformat(), "external_id": f"{serial}-{n}"})
                self.count("care.alerts")
                # Most are acknowledged at once; one in ten waits until the next morning and escalates.
                if rng.random() < 0.1:
                    self.timeline.on_field(now.date() + timedelta(days=1), acknowledge(made["id"]), "care.alert", hour=9, order=21)
                else:
                    self.timeline.at(now, acknowledge(made["id"]), "care.alert", order=21)
            return step

        def acknowledge(alert_id: str) -> Callable[[], Awaitable[None]]:
            async def step() -> None:
                worker = self.care_workers[h.town]
                made = await self.gw.post(worker, f"/api/v1/care/alerts/{alert_id}:acknowledge")
                self.count("care.alerts_acknowledged_in_time" if made.get("acknowledged_in_time") else "care.alerts_acknowledged_late")
                await self.gw.post(worker, f"/api/v1/care/alerts/{alert_id}:close", {
                    "outcome": rng.choice(("false_alarm", "resolved_on_site", "resolved_on_site", "medical_referral")),
                    "note": "已电话联系并上门查看"})
            return step

        return install

    # --- wishes --------------------------------------------------------------------------------

    def campaign_step(self, households: list[pop.Household]) -> Callable[[], Awaitable[None]]:
        """The "505" micro-wish campaign (微光成炬): wishes entered by village officers, published
        by the towns, pledged by donors in the three ways (R-MW-3), delivered, confirmed, closed."""
        async def step() -> None:
            campaign = await self.gw.post(self.admin, "/api/v1/wishes/campaigns", {
                "name": f"微光成炬·“505”微心愿 {YEAR}", "starts_on": f"{YEAR}-03-01", "ends_on": f"{YEAR}-12-31"})
            self.campaign_id = campaign["id"]
            quota = campaign["village_quota"]
            self.count("wishes.campaigns")
            by_village: dict[str, list[pop.Household]] = defaultdict(list)
            for h in households:
                kinds = self.benefits[h.household_id]
                child = any(m.orphan or m.child_without_care for m in h.members)
                if kinds & {"dibao", "tekun", "dibao_single_person"} or h.registered_poor or h.lonely_elderly or child:
                    by_village[h.village].append(h)
            rng = self.rng
            day = self.timeline.now.date()
            for village, families in sorted(by_village.items()):
                chosen = rng.sample(families, min(len(families), quota + 2))
                self.timeline.on_field(add_workdays(day, rng.randint(1, 8)), self.village_wishes_step(village, chosen, quota),
                                 "wishes.collection", hour=10)
            first_pledges = add_workdays(day, 16)
            self.timeline.on_field(first_pledges, self.pledging_step(), "wishes.pledging", hour=10, order=70)
        return step

    def village_wishes_step(self, village: str, families: list[pop.Household], quota: int) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            town = regions.town_of_village(village).code
            officer = self.officers.get(village)
            if officer is None:
                password = secrets.token_urlsafe(12)
                username = f"qg-{village}-officer"
                await self.gw.post(self.admin, "/api/v1/admin/users", {
                    "username": username, "password": password, "display_name": f"{regions.village(village).name}村务专干",
                    "roles": ["village_officer"], "town": town, "village": village})
                officer = self.officers[village] = Actor(username, password, roles=("village_officer",), town=town, village=village)
                self.count("setup.staff_accounts")
            entered = 0
            for h in families:
                if entered >= quota:
                    break
                category, title, cost = self.rng.choice(WISH_IDEAS)
                body = {"household_id": h.household_id, "category": category, "title": title,
                        "description": "家庭困难，希望得到社会爱心人士帮助", "cost": q(cost + self.rng.randint(0, 8) * 10)}
                try:
                    wish = await self.gw.post(officer, f"/api/v1/wishes/campaigns/{self.campaign_id}/wishes", body,
                                              headers={"Idempotency-Key": f"demo-wish-{h.household_id}"})
                except ApiError as exc:
                    if exc.code in ("not_eligible", "household_has_wish", "village_quota", "not_found"):
                        self.count(f"wishes.refused_{exc.code}")
                        continue
                    raise
                entered += 1
                self.count("wishes.entered")
                reviewer = self.caseworker(town)
                self.timeline.on_field(add_workdays(self.timeline.now.date(), self.rng.randint(1, 4)), self.publish_step(reviewer, wish["id"]),
                                 "wishes.publication", hour=11)
        return step

    def publish_step(self, reviewer: Actor, wish_id: int) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.gw.post(reviewer, f"/api/v1/wishes/wishes/{wish_id}:publish")
            self.count("wishes.published")
        return step

    def pledging_step(self) -> Callable[[], Awaitable[None]]:
        """Donors sign up (``/oauth/register``) and pledge over April–November."""
        async def step() -> None:
            wishes = await self.gw.all(self.admin, f"/api/v1/wishes/campaigns/{self.campaign_id}/wishes", {"status": "published"})
            rng = self.rng
            rng.shuffle(wishes)
            n_donors = max(4, min(80, len(wishes) // 6))
            password = secrets.token_urlsafe(12)

            async def donor(index: int) -> Actor:
                organization = index % 5 == 0
                username = f"donor-{self.cfg.seed}-{index:03d}"
                name = (rng.choice(("泉港石化", "福建联合", "泉州港务", "海峡建设", "惠泉商贸")) + "爱心团队") if organization else \
                    rng.choice(("陈先生", "林女士", "黄先生", "王女士", "刘先生", "郑女士", "吴先生", "张女士"))
                await self.gw.post(None, "/oauth/register", {"username": username, "password": password, "display_name": name})
                actor = Actor(username, password, roles=("donor",))
                await self.gw.put(actor, "/api/v1/wishes/donors/me", {"kind": "organization" if organization else "person",
                                                                       "display_name": name})
                self.count("wishes.donors")
                return actor

            self.donors = await asyncio.gather(*(donor(i) for i in range(n_donors)))
            organizations = [d for i, d in enumerate(self.donors) if i % 5 == 0]
            people = [d for i, d in enumerate(self.donors) if i % 5 != 0] or self.donors
            start = self.timeline.now.date()
            span = (date(YEAR, 11, 25) - start).days
            index = 0
            while index < len(wishes):
                remaining = len(wishes) - index
                if remaining <= max(1, len(wishes) // 12):
                    break  # some wishes wait on the board at the year's end
                draw = rng.random()
                day = field_day(start + timedelta(days=rng.randint(0, max(1, span))))
                if draw < 0.22 and remaining >= 3:
                    size = min(remaining, rng.randint(3, 8))
                    group = wishes[index:index + size]
                    self.timeline.on(day, self.pledge_many(rng.choice(organizations), group), "wishes.pledge", hour=rng.choice((10, 20)))
                    index += size
                elif draw < 0.55:
                    wish = wishes[index]
                    donors = rng.sample(people, min(len(people), rng.randint(2, 4)))
                    self.timeline.on(day, self.pledge_shared(donors, wish), "wishes.pledge", hour=rng.choice((10, 20)))
                    index += 1
                else:
                    self.timeline.on(day, self.pledge_one(rng.choice(people), wishes[index]), "wishes.pledge", hour=rng.choice((10, 20)))
                    index += 1
        return step

    async def _pledge(self, donor: Actor, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        try:
            made = await self.gw.post(donor, "/api/v1/wishes/pledges", {"items": items})
        except ApiError as exc:
            if exc.code in ("over_pledged", "wish_not_open", "not_found"):
                self.count(f"wishes.pledge_refused_{exc.code}")
                return None
            raise
        self.count("wishes.pledges", len(made["pledges"]))
        return made["pledges"]

    def pledge_one(self, donor: Actor, wish: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        """One donor, one wish, in full."""
        async def step() -> None:
            pledges = await self._pledge(donor, [{"wish_id": wish["id"]}])
            if pledges:
                self.count("wishes.mode_one_donor_one_wish")
                self.after_pledges(donor, pledges)
        return step

    def pledge_many(self, donor: Actor, wishes: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
        """One donor (an organization), several wishes in one request."""
        async def step() -> None:
            pledges = await self._pledge(donor, [{"wish_id": w["id"]} for w in wishes])
            if pledges:
                self.count("wishes.mode_one_donor_many_wishes")
                self.after_pledges(donor, pledges)
        return step

    def pledge_rest(self, wish_id: int) -> Callable[[], Awaitable[None]]:
        """A donor pledges what is open of a wish whose earlier pledge expired."""
        async def step() -> None:
            donor = self.rng.choice(self.donors)
            pledges = await self._pledge(donor, [{"wish_id": wish_id}])
            if pledges:
                self.count("wishes.pledged_again_after_expiry")
                self.after_pledges(donor, pledges)
        return step

    def pledge_shared(self, donors: list[Actor], wish: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        """Several donors, one wish: parts summing to the cost (the last pledges the rest)."""
        async def step() -> None:
            cost = Decimal(wish["cost"])
            share = (cost / len(donors)).quantize(Decimal("0.01"))
            made_any = False
            for i, donor in enumerate(donors):
                item = {"wish_id": wish["id"]} if i == len(donors) - 1 else {"wish_id": wish["id"], "amount": q(share)}
                pledges = await self._pledge(donor, [item])
                if pledges:
                    made_any = True
                    self.after_pledges(donor, pledges)
            if made_any:
                self.count("wishes.mode_many_donors_one_wish")
        return step

    def after_pledges(self, donor: Actor, pledges: list[dict[str, Any]]) -> None:
        rng = self.rng
        today = self.timeline.now.date()
        for p in pledges:
            if rng.random() < 0.04:
                # Never delivered: it expires after 30 days (R-MW-4), the wish is open again and
                # another donor takes up the rest a few weeks later.
                self.count("wishes.pledges_left_to_expire")
                again = today + timedelta(days=rng.randint(36, 50))
                if again <= date(YEAR, 11, 30):
                    self.timeline.on_field(again, self.pledge_rest(p["wish_id"]), "wishes.pledge", hour=20)
                continue
            day = today + timedelta(days=rng.randint(3, 24))
            if day <= date(YEAR, 12, 28):
                self.timeline.on_field(day, self.deliver_step(donor, p), "wishes.delivery", hour=rng.choice((10, 15)))

    def deliver_step(self, donor: Actor, pledge: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            try:
                made = await self.gw.post(donor, f"/api/v1/wishes/pledges/{pledge['id']}:deliver", {"note": "已送达"})
            except ApiError as exc:
                if exc.code == "invalid_status":
                    return
                raise
            self.count("wishes.deliveries")
            wish = await self.gw.get(self.caseworker(made["town"]), f"/api/v1/wishes/wishes/{made['wish_id']}")
            if wish["status"] == "delivered" and wish["id"] not in self.confirming:
                self.confirming.add(wish["id"])
                day = add_workdays(self.timeline.now.date(), self.rng.randint(1, 6))
                if day <= date(YEAR, 12, 30):
                    self.timeline.on_field(day, self.confirm_step(wish), "wishes.confirmation", hour=10)
        return step

    def confirm_step(self, wish: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            officer = self.officers[wish["village"]]
            await self.gw.post(officer, f"/api/v1/wishes/wishes/{wish['id']}:confirm",
                               {"confirmed_by": self.rng.choice(("family", "family", "village")), "note": "已收到，感谢爱心人士"})
            self.count("wishes.confirmed")
            day = add_workdays(self.timeline.now.date(), self.rng.randint(1, 7))
            if day <= date(YEAR, 12, 30) and self.rng.random() < 0.9:
                self.timeline.on_field(day, self.close_wish_step(wish), "wishes.closure", hour=16)
        return step

    def close_wish_step(self, wish: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        async def step() -> None:
            await self.gw.post(self.caseworker(wish["town"]), f"/api/v1/wishes/wishes/{wish['id']}:close")
            self.count("wishes.closed")
        return step

    # --- calendar ------------------------------------------------------------------------------

    async def extend_spring_festival(self) -> None:
        """国办发明电〔2020〕1号: the Spring Festival holiday extended to 2 February."""
        await self.gw.put(self.admin, f"/api/v1/calendar/years/{YEAR}", year_arrangement(YEAR))
        self.count("calendar.years_loaded")
        loaded = await self.gw.get(self.admin, f"/api/v1/calendar/years/{YEAR}")
        if loaded["source"] != "loaded" or "2020-01-31" not in loaded["holidays"]:
            raise DemoError(f"the 2020 calendar was not loaded as sent: {loaded}")

    # --- 7. year end ---------------------------------------------------------------------------

    async def year_end(self, progress: Progress) -> dict[str, Any] | None:
        await self.set_clock(at(date(YEAR, 12, 31), 18))
        await self.roster_settled()
        progress.step()
        # Let the other projections settle too (wishes and care read eligibility's events).
        await asyncio.sleep(1.0)
        try:
            report = await self.gw.get(self.admin, "/api/v1/reports/kpis", params={"year": YEAR})
        except ApiError as exc:
            self.say(f"  KPI report not available: {exc.status} {exc.code}")
            report = None
        progress.step()
        return report


# --- output -------------------------------------------------------------------------------------

SECTIONS = (
    ("registry", "Registry (eligibility)"), ("go-live", "Go-live 2019 (existing beneficiaries)"),
    ("parameters", "Policy parameters"), ("calendar", "Working-day calendar and the demo clock"),
    ("applications", "Applications (R-DB-9, R-TK-1)"), ("eligibility", "Re-checks"),
    ("monitoring", "Return-to-poverty monitoring (R-RM)"), ("relief", "Temporary relief (R-TR)"),
    ("runs", "Payment runs (R-DS-2/3)"), ("bank", "Bank returns"), ("price", "Price subsidy (R-PS)"),
    ("housing", "Safe housing (R-HS-1)"), ("care", "Care (R-TK-2..5, R-LB)"), ("wishes", "505 micro-wishes (R-MW)"),
    ("setup", "Accounts"), ("regions", "Regions"),
)


def format_summary(result: DemoResult) -> str:
    lines = ["", "Summary", "======="]
    grouped: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key, value in result.counts.items():
        section, _, item = key.partition(".")
        grouped[section].append((item, value))
    known = [s for s, _ in SECTIONS]
    for section, title in SECTIONS + tuple((s, s) for s in sorted(grouped) if s not in known):
        if section not in grouped:
            continue
        lines.append(f"  {title}")
        for item, value in sorted(grouped[section]):
            lines.append(f"    {item.replace('_', ' '):<44} {value:>9,}")
    lines.append("")
    lines.append("  Time per phase")
    for label, seconds in result.phase_seconds.items():
        lines.append(f"    {label:<44} {seconds:>8.1f} s")
    lines.append(f"    {'total':<44} {result.elapsed:>8.1f} s   ({result.requests:,} requests)")
    for what, seconds in sorted(result.waited.items()):
        lines.append(f"      of which waiting for {what:<27} {seconds:>8.1f} s")
    if result.failures:
        lines.append("")
        lines.append(f"  {len(result.failures)} step(s) failed; by kind, with the first of each:")
        kinds: dict[str, list[str]] = defaultdict(list)
        for failure in result.failures:
            label, _, error = failure[17:].partition(": ")
            code = error.split("'code': '")[1].split("'")[0] if "'code': '" in error else error[:60]
            kinds[f"{label} {code}"].append(failure)
        for kind, items in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"    {len(items):>5} × {kind}")
            lines.append(f"            {items[0][:300]}")
    return "\n".join(lines)


def format_kpis(report: dict[str, Any] | None) -> str:
    if not report:
        return "\nKPI report: not available (GET /api/v1/reports/kpis did not answer)."
    lines = ["", f"KPI report {report.get('year')} (GET /api/v1/reports/kpis)", "=" * 40]
    for area in report.get("areas", []):
        lines.append(f"  {area['name']} ({area['code']})")
        for k in area["kpis"]:
            met = {True: "met", False: "NOT met", None: ""}[k.get("met")]
            target = f" target {k['comparison'] or ''}{k['target']}" if k.get("target") is not None else ""
            value = k["value"] if k["value"] is not None else "—"
            lines.append(f"    {k['label']:<14} {value:>10} {k['unit']:<8}{target:<18} {met}")
    sources = report.get("sources") or {}
    if any(v != "ok" for v in sources.values()):
        lines.append(f"  sources: {sources}")
    return "\n".join(lines)
