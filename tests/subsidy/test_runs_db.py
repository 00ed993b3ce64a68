"""Payment runs and the roster on a real, migrated subsidy database (no HTTP): the never-twice
constraint, concurrent snapshots, an interrupted snapshot resuming, and the projection converging
whatever the order of its events."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from services.subsidy.roster import handlers
from services.subsidy.roster.models import RosterBenefit, RosterPerson
from services.subsidy.runs import rules as run_rules
from services.subsidy.runs import service as runs
from services.subsidy.runs.models import PaymentLine, PaymentRun
from shared.auth import Principal
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.events.envelope import new_event
from shared.migrations import upgrade

ADMIN = Principal(subject="admin", roles=frozenset({"district_admin"}))
T0 = datetime(2020, 6, 1, tzinfo=UTC)


class Db:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, pool_size=5)
        self.sessions = make_sessionmaker(self.engine)
        self.clock = ControllableClock(datetime.fromisoformat("2020-06-15T09:00:00+08:00"))
        self.tick = T0

    def uow(self, correlation_id: str | None = None) -> UnitOfWork:
        return UnitOfWork(self.sessions, source="/services/subsidy", clock=self.clock, correlation_id=correlation_id)

    def event(self, event_type: str, data: dict[str, Any], subject: str, at: datetime | None = None):
        self.tick += timedelta(seconds=1)
        return new_event(event_type, data, source="/services/eligibility", time=at or self.tick, subject=subject)

    async def apply(self, handler, event) -> None:
        async with self.uow() as uow:
            await handler(event, uow=uow)
            await uow.commit()

    async def dibao_household(self, *, amount: str = "500.00", account: str | None = "6222", effective: str = "2020-01",
                              name: str = "林一") -> tuple[str, str]:
        hh, person = f"h-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
        await self.apply(handlers.apply_household, self.event(handlers.HOUSEHOLD_REGISTERED, {
            "household_id": hh, "town": "350505100", "members": [{"person_id": person, "name": name, "bank_account": account}],
        }, hh))
        await self.apply(handlers.apply_benefit, self.event(handlers.BENEFIT_GRANTED, {
            "benefit_id": f"b-{hh}", "household_id": hh, "person_id": person, "category": "dibao", "monthly_amount": amount,
            "effective_month": effective, "members": [person], "town": "350505100",
        }, f"b-{hh}"))
        return hh, person

    async def run(self, month: date, group: str = "assistance") -> PaymentRun:
        async with self.uow() as uow:
            run = await runs.create_run(uow=uow, principal=ADMIN, month=month, group=group)
            await uow.commit()
        return run

    async def drain(self) -> None:
        while await runs.process_next_step(self.uow):
            pass

    async def lines(self, run_id: uuid.UUID, person_id: str | None = None) -> list[PaymentLine]:
        async with self.uow() as uow:
            found = await runs.list_lines(uow, await runs.get_run(uow, run_id), limit=500, after=None, status=None, reason=None, town=None, person_id=person_id)
            uow.session.expunge_all()  # keep the loaded state after the read-only transaction ends
            return found

    async def get(self, run_id: uuid.UUID) -> PaymentRun:
        async with self.uow() as uow:
            found = await runs.get_run(uow, run_id)
            uow.session.expunge_all()
            return found


@pytest.fixture(scope="module")
async def db(databases) -> AsyncIterator[Db]:
    url = await databases.create("subsidy")
    await asyncio.to_thread(upgrade, "subsidy", url)
    database = Db(url)
    yield database
    await database.engine.dispose()


async def test_the_database_refuses_a_second_payable_line(db: Db) -> None:
    run = await db.run(date(2019, 12, 1), "housing")
    common = {"run_id": run.id, "person_id": "p-twice", "payee_id": "p-twice", "benefit": "dibao", "month": date(2019, 12, 1),
              "amount": Decimal("10.00")}
    async with db.uow() as uow:
        uow.session.add(PaymentLine(**common, status="paid"))
        await uow.commit()
    for status in ("payable", "paid"):
        with pytest.raises(IntegrityError):
            async with db.uow() as uow:
                uow.session.add(PaymentLine(**common, status=status))
                await uow.commit()
    # Dropped and failed lines are outside the constraint: a failed line can be carried again.
    async with db.uow() as uow:
        uow.session.add_all([PaymentLine(**common, status="failed"), PaymentLine(**common, status="dropped", drop_reason="duplicate")])
        await uow.commit()


async def test_one_run_per_month_and_group_under_concurrency(db: Db) -> None:
    results = await asyncio.gather(*[db.run(date(2019, 11, 1), "housing") for _ in range(6)], return_exceptions=True)
    created = [r for r in results if isinstance(r, PaymentRun)]
    assert len(created) == 1
    assert all(getattr(r, "code", None) == "run_exists" for r in results if not isinstance(r, PaymentRun))


async def test_an_interrupted_snapshot_resumes_with_the_same_result(db: Db) -> None:
    households = [await db.dibao_household(amount=f"{100 + i}.00") for i in range(5)]
    run = await db.run(date(2020, 3, 1))
    # Interrupt the step half-way: the snapshot statement ran, the transaction never committed.
    async with db.uow() as uow:
        claimed = await uow.session.scalar(select(PaymentRun).where(PaymentRun.id == run.id).with_for_update(skip_locked=True))
        await runs.snapshot(uow=uow, run=claimed)
        interrupted = (await uow.session.execute(text(
            "SELECT person_id, amount, status FROM payment_lines WHERE run_id = :r ORDER BY person_id"), {"r": run.id})).all()
        await uow.rollback()  # the process dies here
    assert (await db.get(run.id)).status == "created"
    await db.drain()
    resumed = await db.get(run.id)
    assert resumed.status == "checked"
    async with db.uow() as uow:
        final = (await uow.session.execute(text(
            "SELECT person_id, amount, status FROM payment_lines WHERE run_id = :r ORDER BY person_id"), {"r": run.id})).all()
    assert final == interrupted and len(final) >= 5
    mine = {person for _, person in households}
    assert {row.person_id for row in final} >= mine
    # Every later step repeated is a no-op.
    async with db.uow() as uow:
        await runs.approve_run(uow=uow, principal=ADMIN, run_id=run.id)
        await uow.commit()
    for _ in range(2):
        async with db.uow() as uow:
            issued = await runs.issue_bank_file(uow=uow, principal=ADMIN, run_id=run.id)
            await uow.commit()
    assert issued.status == "issued" and issued.bank_count == resumed.lines_payable


async def test_the_snapshot_drops_duplicates_and_lines_already_paid(db: Db) -> None:
    # R-DS-3 at the snapshot: a person with two dibao benefits is paid once (the smaller benefit id
    # is kept, the other line dropped as a duplicate); a person, benefit and month already paid in
    # another run is dropped as already paid.
    hh, twice = await db.dibao_household(amount="410.00")
    await db.apply(handlers.apply_benefit, db.event(handlers.BENEFIT_GRANTED, {
        "benefit_id": f"c-{hh}", "household_id": hh, "person_id": twice, "category": "dibao", "monthly_amount": "420.00",
        "effective_month": "2020-01", "members": [twice], "town": "350505100",
    }, f"c-{hh}"))
    _, paid = await db.dibao_household(amount="430.00")
    _, alone = await db.dibao_household(amount="440.00")
    holder = await db.run(date(2019, 10, 1), "housing")  # holds the line paid before
    async with db.uow() as uow:
        uow.session.add(PaymentLine(run_id=holder.id, person_id=paid, payee_id=paid, benefit="dibao", month=date(2020, 1, 1),
                                    amount=Decimal("430.00"), status="paid"))
        await uow.commit()
    run = await db.run(date(2020, 1, 1))
    await db.drain()
    kept, second = sorted(await db.lines(run.id, twice), key=lambda line: line.benefit_id or "")
    assert (kept.benefit_id, kept.status, kept.drop_reason, kept.amount) == (f"b-{hh}", "payable", None, Decimal("410.00"))
    assert (second.benefit_id, second.status, second.drop_reason, second.dropped_stage) == (
        f"c-{hh}", "dropped", "duplicate", "snapshot")
    [again] = await db.lines(run.id, paid)
    assert (again.status, again.drop_reason, again.amount) == ("dropped", "already_paid", Decimal("430.00"))
    [single] = await db.lines(run.id, alone)
    assert (single.status, single.drop_reason) == ("payable", None)
    async with db.uow() as uow:
        summary = {(s["reason"], s["stage"]): s["lines"] for s in await runs.drop_summary(uow, run.id)}
    assert summary[("duplicate", "snapshot")] >= 1 and summary[("already_paid", "snapshot")] >= 1


async def test_concurrent_runs_never_carry_a_failed_line_twice(db: Db) -> None:
    _, person = await db.dibao_household(amount="300.00")
    first = await db.run(date(2020, 4, 1))
    await db.drain()
    async with db.uow() as uow:
        await runs.approve_run(uow=uow, principal=ADMIN, run_id=first.id)
        await runs.issue_bank_file(uow=uow, principal=ADMIN, run_id=first.id)
        await uow.commit()
    [line] = await db.lines(first.id, person)
    async with db.uow() as uow:
        await runs.ingest_bank_return(uow=uow, principal=ADMIN, body_hash="x", rows=[
            runs.ReturnRow(0, f"QGS{line.id:012d}", "failed", "account frozen")])
        await uow.commit()
    # Two later months created at once: both want to carry April's failed line.
    may, june = await asyncio.gather(db.run(date(2020, 5, 1)), db.run(date(2020, 6, 1)))
    await asyncio.gather(db.drain(), db.drain())
    await db.drain()  # the loser of the race (unique violation, rolled back) is retried
    assert {(await db.get(may.id)).status, (await db.get(june.id)).status} == {"checked"}
    carried = [l for r in (may, june) for l in await db.lines(r.id, person) if l.carried_from_line_id == line.id]
    assert sorted(l.status for l in carried) in (["payable"], ["dropped", "payable"])
    payable_april = [l for r in (may, june) for l in await db.lines(r.id, person) if l.month == date(2020, 4, 1) and l.status == "payable"]
    assert len(payable_april) == 1 and payable_april[0].amount == Decimal("300.00")


async def test_a_bank_return_with_an_unknown_reference_changes_nothing(db: Db) -> None:
    from shared.errors import Problem

    _, person = await db.dibao_household(amount="250.00")
    run = await db.run(date(2020, 2, 1))
    await db.drain()
    async with db.uow() as uow:
        await runs.approve_run(uow=uow, principal=ADMIN, run_id=run.id)
        await runs.issue_bank_file(uow=uow, principal=ADMIN, run_id=run.id)
        await uow.commit()
    [line] = await db.lines(run.id, person)
    with pytest.raises(Problem) as refused:
        async with db.uow() as uow:
            await runs.ingest_bank_return(uow=uow, principal=ADMIN, body_hash="y", rows=[
                runs.ReturnRow(0, f"QGS{line.id:012d}", "paid", None), runs.ReturnRow(1, "QGS000000000000", "paid", None)])
            await uow.commit()
    assert refused.value.code == "bank_return_rejected"
    assert refused.value.extensions["unknown_references"] == ["QGS000000000000"]
    [unchanged] = await db.lines(run.id, person)
    assert unchanged.status == "payable"


async def test_older_events_never_overwrite_newer_state(db: Db) -> None:
    hh, person = f"h-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    newer = db.event(handlers.HOUSEHOLD_CHANGED, {"household_id": hh, "town": "350505100", "members": [
        {"person_id": person, "name": "新", "bank_account": "NEW"}]}, hh, at=T0 + timedelta(days=2))
    older = db.event(handlers.HOUSEHOLD_REGISTERED, {"household_id": hh, "town": "350505101", "members": [
        {"person_id": person, "name": "旧", "bank_account": "OLD"}]}, hh, at=T0 + timedelta(days=1))
    death = db.event(handlers.PERSON_DECEASED, {"person_id": person, "household_id": hh, "died_on": "2020-05-02"}, person,
                     at=T0 + timedelta(days=1))
    for event, handler in ((newer, handlers.apply_household), (older, handlers.apply_household), (death, handlers.apply_deceased)):
        await db.apply(handler, event)
    # A household snapshot that does not know of the death does not clear it.
    await db.apply(handlers.apply_household, db.event(handlers.HOUSEHOLD_CHANGED, {"household_id": hh, "town": "350505100",
                   "members": [{"person_id": person, "name": "新", "bank_account": "NEW"}]}, hh, at=T0 + timedelta(days=3)))
    async with db.uow() as uow:
        row = await uow.session.get(RosterPerson, person)
        assert (row.bank_account, row.town, row.deceased_on) == ("NEW", "350505100", date(2020, 5, 2))

    benefit = f"b-{hh}"
    granted = db.event(handlers.BENEFIT_GRANTED, {"benefit_id": benefit, "household_id": hh, "person_id": person,
                       "category": "dibao", "monthly_amount": "500.00", "effective_month": "2019-06", "members": [person]},
                       benefit, at=T0)
    ended = db.event(handlers.BENEFIT_ENDED, {"benefit_id": benefit, "last_month": "2020-05", "reason": "deceased"}, benefit,
                     at=T0 + timedelta(days=4))
    await db.apply(handlers.apply_benefit, granted)
    await db.apply(handlers.apply_benefit_ended, ended)
    await db.apply(handlers.apply_benefit, granted)  # a replay of the grant
    async with db.uow() as uow:
        row = await uow.session.get(RosterBenefit, benefit)
        # Decided in 2019 at standard 600: implied 12-month income (600 − 500) × 12.
        assert (row.last_month, row.amount_basis, row.net_income_12m) == (date(2020, 5, 1), "gap", Decimal("1200.00"))


async def test_roster_handlers_stamp_deaths_and_ends_and_keep_the_latest_facts(db: Db) -> None:
    """The fixed (cached) roster statements: a death or an end is stamped with its transaction id
    once (the runs' re-check reads it), moves, self-care levels and placements keep the latest fact."""
    from services.subsidy.roster.models import RosterBenefitMember, RosterCareLevel, RosterPlacement

    hh, alive, dead = f"h-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    snapshot = {"household_id": hh, "town": "350505100", "members": [
        {"person_id": alive, "name": "林一"}, {"person_id": dead, "name": "林二", "deceased_on": "2020-03-01"}]}
    await db.apply(handlers.apply_household, db.event(handlers.HOUSEHOLD_REGISTERED, snapshot, hh))

    async def person(person_id: str) -> RosterPerson:
        async with db.uow() as uow:
            row = await uow.session.get(RosterPerson, person_id)
            uow.session.expunge(row)  # keep the loaded state after the read-only transaction ends
            return row

    first = await person(dead)
    assert (await person(alive)).deceased_xid is None and first.deceased_xid is not None
    await db.apply(handlers.apply_household, db.event(handlers.HOUSEHOLD_CHANGED, snapshot, hh))
    assert (await person(dead)).deceased_xid == first.deceased_xid  # the same death: not stamped again

    move = db.event(handlers.PERSON_MOVED, {"person_id": alive, "household_id": hh, "to_town": "350505101"}, alive)
    stale = db.event(handlers.PERSON_MOVED, {"person_id": alive, "to_town": "350505102", "to_household_id": "h-x"}, alive,
                     at=T0 - timedelta(days=1))
    await db.apply(handlers.apply_moved, move)
    await db.apply(handlers.apply_moved, stale)
    assert ((row := await person(alive)).town, row.household_id) == ("350505101", hh)
    await db.apply(handlers.apply_moved, db.event(handlers.PERSON_MOVED, {"person_id": alive, "to_town": "350505102",
                                                                          "to_household_id": "h-y"}, alive))
    assert ((row := await person(alive)).town, row.household_id) == ("350505102", "h-y")

    later = db.event(handlers.SELFCARE_ASSESSED, {"person_id": alive, "level": "full_loss", "assessed_on": "2020-05-01"}, alive)
    earlier = db.event(handlers.SELFCARE_ASSESSED, {"person_id": alive, "level": "self_care", "assessed_on": "2020-04-01"}, alive)
    placed = db.event(handlers.PLACEMENT_MADE, {"placement_id": f"pl-{hh}", "person_id": alive, "home_id": "home-1",
                                                "started_on": "2020-05-02", "level": "full_loss"}, f"pl-{hh}")
    for handler, event in ((handlers.apply_selfcare, later), (handlers.apply_selfcare, earlier),
                           (handlers.apply_placement, placed), (handlers.apply_placement_ended, db.event(
                               handlers.PLACEMENT_ENDED, {"placement_id": f"pl-{hh}", "ended_on": "2020-05-20"}, f"pl-{hh}")),
                           (handlers.apply_placement, placed)):  # a replay keeps the end
        await db.apply(handler, event)

    benefit = f"b-{hh}"
    granted = {"benefit_id": benefit, "household_id": hh, "person_id": alive, "category": "tekun",
               "monthly_amount": "900.00", "effective_month": "2020-01", "members": [dead]}
    await db.apply(handlers.apply_benefit, db.event(handlers.BENEFIT_GRANTED, granted, benefit))
    async with db.uow() as uow:
        level = await uow.session.get(RosterCareLevel, alive)
        assert (level.level, level.assessed_on) == ("full_loss", date(2020, 5, 1))
        placement = await uow.session.get(RosterPlacement, f"pl-{hh}")
        assert (placement.home_id, placement.ended_on) == ("home-1", date(2020, 5, 20))
        open_benefit = await uow.session.get(RosterBenefit, benefit)
        members = (await uow.session.scalars(select(RosterBenefitMember.person_id)
                                             .where(RosterBenefitMember.benefit_id == benefit))).all()
        assert (open_benefit.ended_xid, open_benefit.last_month, members) == (None, None, [alive])  # tekun: the payee only
    await db.apply(handlers.apply_benefit, db.event(handlers.BENEFIT_CHANGED, {**granted, "last_month": "2020-06"}, benefit))
    async with db.uow() as uow:
        ended = await uow.session.get(RosterBenefit, benefit)
        assert ended.last_month == date(2020, 6, 1) and ended.ended_xid is not None


async def test_runs_of_a_year_combine_with_the_other_filters(db: Db) -> None:
    """``GET /runs?year=`` (the endpoint function): the runs whose month lies in the year, with
    ``benefit_group`` and ``month`` (AND). The module's database holds other tests' housing and
    assistance runs of 2019 and 2020; the disability runs here are the only ones of their group."""
    from services.subsidy.runs.router import list_runs
    from shared.pagination import PageParams

    december, january = await db.run(date(2019, 12, 1), "disability"), await db.run(date(2020, 1, 1), "disability")

    async def listed(**filters) -> list[str]:
        given = {"month": None, "benefit_group": None, "year": None, **filters}
        page = await list_runs(**given, page=PageParams(limit=500, after=None), uow=db.uow(), _=ADMIN)
        return [str(r.id) for r in page.items]

    assert await listed(year=2020, benefit_group="disability") == [str(january.id)]
    assert await listed(year=2019, benefit_group="disability") == [str(december.id)]
    assert await listed(year=2021, benefit_group="disability") == []
    assert await listed(year=2020, month="2020-01", benefit_group="disability") == [str(january.id)]
    assert await listed(year=2020, month="2019-12") == []
    every_2020 = await listed(year=2020)
    assert str(january.id) in every_2020 and str(december.id) not in every_2020
    async with db.uow() as uow:
        months = (await uow.session.execute(select(PaymentRun.id, PaymentRun.month))).all()
    assert sorted(every_2020) == sorted(str(i) for i, m in months if m.year == 2020)


async def test_the_bank_file_prefixes_formula_names_and_keeps_amounts_and_total(db: Db) -> None:
    """H2 (CSV injection): a masked name starting with = + - @ is '-prefixed in the bank file; the
    accounts, amounts, references and the TOTAL control line are exactly as before."""
    names = {"62220800001": ("=HYPERLINK(1)", "101.10"), "62220800002": ("+86王", "102.20"), "62220800003": ("-王五", "103.30"),
             "62220800004": ("@SUM(A1)", "104.40"), "62220800005": ("王小英", "105.50"), "62220800006": ("=A", "106.60")}
    for account, (name, amount) in names.items():
        await db.dibao_household(amount=amount, account=account, name=name)
    run = await db.run(date(2020, 7, 1))
    await db.drain()
    async with db.uow() as uow:
        await runs.approve_run(uow=uow, principal=ADMIN, run_id=run.id)
        await runs.issue_bank_file(uow=uow, principal=ADMIN, run_id=run.id)
        await uow.commit()
    issued = await db.get(run.id)
    body = b"".join([chunk async for chunk in runs.stream_bank_file(db.engine, issued)]).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["account", "name", "amount", "reference"]
    lines, control = rows[1:-1], rows[-1]
    mine = {r[0]: r for r in lines if r[0] in names}
    assert {account: (r[1], r[2]) for account, r in mine.items()} == {
        "62220800001": ("'=***********)", "101.10"), "62220800002": ("'+**王", "102.20"), "62220800003": ("'-*五", "103.30"),
        "62220800004": ("'@******)", "104.40"), "62220800005": ("王*英", "105.50"), "62220800006": ("'=*", "106.60")}
    assert all(mine[a][1] == run_rules.bank_name(n) for a, (n, _) in names.items())
    # The control line is untouched and still adds up.
    assert control == ["TOTAL", str(issued.bank_count), f"{issued.bank_total:.2f}", "2020-07-assistance"]
    assert len(lines) == issued.bank_count and sum(Decimal(r[2]) for r in lines) == issued.bank_total
    assert all(r[3].startswith("QGS") for r in lines)


async def test_the_sql_bank_name_mirrors_the_rule(db: Db) -> None:
    from services.subsidy.runs import sql

    samples = ["", "王", "=", "王英", "=A", "王小英", "欧阳小英", "=1+2", "+86", "-5", "@x", "\t=1", "\r=1", "a=b", "'=x"]
    async with db.uow() as uow:
        got = (await uow.session.execute(text(
            f"SELECT {sql.BANK_NAME} FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS l(payee_name, i) "
            f"CROSS JOIN LATERAL (SELECT {sql.MASKED_NAME} AS masked) n ORDER BY i"), {"names": samples})).scalars().all()
    assert got == [run_rules.bank_name(name) for name in samples]
