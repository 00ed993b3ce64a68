"""Benchmark of the eligibility registry: bulk registration, recalculation of a new standard, and
looking a person up by resident ID number.

    python -m tests.bench.bench_eligibility                    # 20,000 persons in 8,000 households (~1 min)
    python -m tests.bench.bench_eligibility --size 1000000     # the issue's size: 1,000,000 in 400,000

1. Bulk registration: batches of 5,000 households (the API's batch size) go through the service's
   own path — pydantic validation of every household and ID number, the one-person-one-record
   check against the registry, then ``COPY`` of households, persons, incomes, history rows and one
   ``eligibility.household.registered`` outbox event each (``registry.bulk.bulk_register``).
2. Every household is then put on dibao at the 2020 standard (720 yuan; set-based setup, untimed).
3. A new standard (750 yuan from 2031-01-01) is added through ``parameters.service.add_version``,
   which recalculates every live benefit set-based (``decisions.recalc``): one decision with its
   trace, the benefit update and one ``eligibility.benefit.changed`` outbox event per household —
   target ≤ 60 s for 400,000 households.
4. ``--lookups`` random persons are looked up by ID number (``registry.service.person_by_id_number``,
   the unique index on ``persons.id_number``) — target p99 ≤ 10 ms.

Peak memory is this process's maximum resident set (the database server's is not counted) —
target ≤ 1 GB. PostgreSQL is embedded unless ``BENCH_DATABASE_URL`` names a server. Figures are
printed beside their targets, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from deploy.embedded import EmbeddedPostgres, database_url, drop_databases, ensure_databases, free_port
from services.eligibility.parameters.service import add_version
from services.eligibility.registry.bulk import MAX_HOUSEHOLDS, bulk_register
from services.eligibility.registry.schemas import HouseholdIn
from services.eligibility.registry.service import Actor, person_by_id_number
from shared import regions
from shared.auth import DISTRICT_ADMIN, Principal
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.ids import make_id_number
from shared.migrations import upgrade

TARGET_RECALC_S = 60.0
TARGET_LOOKUP_P99_MS = 10.0
TARGET_PEAK_MB = 1024.0
NOW = datetime(2020, 6, 15, 1, 0, tzinfo=UTC)
FIRST_BIRTH = date(1940, 1, 1)
RELATIONS = ("head", "spouse", "child", "child", "parent")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚𠮷"
VILLAGES = [v.code for v in regions.VILLAGES]

GRANT_ALL = """
INSERT INTO benefits (id, household_id, person_id, town, village, category, monthly_amount, members, effective_month,
                      status, decision_id, rule, amount_basis, assessed_on, basis_members, basis_net_income_12m,
                      created_at, updated_at)
SELECT gen_random_uuid(), h.id, h.head_person_id, h.town, h.village, 'dibao',
       round(720 * m.n - COALESCE(i.total, 0) / 12, 2), m.ids, DATE '2020-07-01', 'active', gen_random_uuid(),
       'R-DB-4', 'rule', DATE '2020-06-15', m.n, COALESCE(i.total, 0), now(), now()
FROM households h
JOIN LATERAL (SELECT count(*) AS n, jsonb_agg(p.id::text) AS ids FROM persons p WHERE p.household_id = h.id) m ON true
LEFT JOIN LATERAL (SELECT sum(amount) AS total FROM incomes WHERE household_id = h.id) i ON true
WHERE 720 * 12 * m.n > COALESCE(i.total, 0)
"""


def id_number(i: int) -> str:
    """The i-th synthetic resident: a distinct (birth date, order code, sex) in region 350505."""
    birth = FIRST_BIRTH + timedelta(days=(i // 1000) % 27_000)
    region = f"{350505 + i // 27_000_000:06d}"
    return make_id_number(region, birth, (i % 1000) // 2, "male" if i % 2 else "female")


def households(first_person: int, count_persons: int, rng: random.Random) -> list[dict]:
    """Households of 1–4 members (2.5 on average) covering persons first_person .. + count."""
    out, i, end = [], first_person, first_person + count_persons
    while i < end:
        size = min(rng.choice((1, 2, 3, 4)), end - i)
        village = VILLAGES[rng.randrange(len(VILLAGES))]
        members = []
        for k in range(size):
            members.append({"id_number": id_number(i + k), "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                            "relation": RELATIONS[k]})
        out.append({
            "town": village[:9], "village": village, "address": f"{village}村{rng.randrange(1, 300)}号",
            "registered_poor": rng.random() < 0.3, "ex_poor": False, "edge": False, "members": members,
            "incomes": [{"source": "wages", "amount": f"{rng.randrange(0, 8000 * size)}.00"}],
        })
        i += size
    return out


def backend_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a local PostgreSQL backend has used; 0 when not readable."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(server_url: str, size: int, lookups: int) -> None:
    name = f"bench_eligibility_{uuid.uuid4().hex[:6]}"
    await ensure_databases(server_url, [name])
    url = database_url(server_url, name)
    rng = random.Random(20200615)
    try:
        await asyncio.to_thread(upgrade, "eligibility", url)
        engine = make_engine(url, pool_size=4)
        sessions = make_sessionmaker(engine)
        clock = ControllableClock(NOW)

        def uow() -> UnitOfWork:
            return UnitOfWork(sessions, source="/services/eligibility", clock=clock)

        actor = Actor("bench", "bench")
        admin = Principal(subject="bench", roles=frozenset({DISTRICT_ADMIN}))

        # 1. bulk registration in batches of the API's size
        registered_households = 0
        batch_persons = int(MAX_HOUSEHOLDS * 2.5)
        started = time.perf_counter()
        validate_s = 0.0
        for first in range(0, size, batch_persons):
            t0 = time.perf_counter()
            raw = households(first, min(batch_persons, size - first), rng)
            items = [(n, None, HouseholdIn.model_validate(h)) for n, h in enumerate(raw, start=1)]
            validate_s += time.perf_counter() - t0
            async with uow() as u:
                reports = await bulk_register(uow=u, principal=admin, actor=actor, items=items)
                await u.commit()
            rejected = [r for r in reports if r.status != "registered"]
            assert not rejected, rejected[:3]
            registered_households += len(reports)
        register_s = time.perf_counter() - started
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("households", "persons", "incomes"):
                await conn.execute(text(f"VACUUM ANALYZE {table}"))

        # 2. everyone on dibao at 720 (setup, untimed)
        t0 = time.perf_counter()
        async with engine.begin() as conn:
            granted = (await conn.execute(text(GRANT_ALL))).rowcount
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE benefits"))
        grant_s = time.perf_counter() - t0

        # 3. a new standard recalculates every live benefit
        load_before = os.getloadavg()[0]
        async with uow() as u:
            pid = await u.session.scalar(text("SELECT pg_backend_pid()"))
            cpu0, backend0 = time.process_time(), backend_cpu_s(pid)
            t0 = time.perf_counter()
            _, summary = await add_version(uow=u, principal=admin, name="dibao_standard", raw_value="750.00",
                                           valid_from=date(2031, 1, 1), note="bench")
            await u.commit()
            recalc_s = time.perf_counter() - t0
            recalc_cpu, recalc_backend = time.process_time() - cpu0, backend_cpu_s(pid) - backend0
        async with engine.connect() as conn:
            changed_events = await conn.scalar(text("SELECT count(*) FROM outbox_events WHERE event_type = 'eligibility.benefit.changed'"))
            sample = (await conn.execute(text(
                "SELECT basis_members, basis_net_income_12m, monthly_amount FROM benefits WHERE status = 'active' LIMIT 1"))).one()

        # 4. lookups by ID number
        async with sessions() as session:
            await person_by_id_number(session, id_number(0))
            lookup_pid = await session.scalar(text("SELECT pg_backend_pid()"))
            cpu0, backend0 = time.process_time(), backend_cpu_s(lookup_pid)
            latencies = []
            for _ in range(lookups):
                number = id_number(rng.randrange(size))
                t1 = time.perf_counter()
                person = await person_by_id_number(session, number)
                latencies.append((time.perf_counter() - t1) * 1000)
                assert person is not None and person.id_number == number
            lookup_cpu, lookup_backend = time.process_time() - cpu0, backend_cpu_s(lookup_pid) - backend0
            miss = await person_by_id_number(session, make_id_number("110105", date(1949, 12, 31), 1, "female"))
            assert miss is None
        await engine.dispose()

        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print()
        print(f"eligibility registry, {size:,} persons in {registered_households:,} households (PostgreSQL at {server_url.rsplit('@', 1)[-1]})")
        print(f"  bulk registration        {register_s:8.1f} s   {registered_households / register_s:10,.0f} households/s"
              f"   ({size / register_s:,.0f} persons/s; of which validation {validate_s:.1f} s)")
        print(f"  setup: {granted:,} dibao benefits at 720 in {grant_s:.1f} s (untimed)")
        print(f"  recalculation at 750     {recalc_s:8.1f} s   {summary.examined / recalc_s:10,.0f} households/s"
              f"   (examined {summary.examined:,}, changed {summary.changed:,}, gradual exit {summary.gradual_exit:,},"
              f" ended {summary.ended:,}; {changed_events:,} benefit.changed events)   target <= {TARGET_RECALC_S:.0f} s"
              + ("" if size >= 1_000_000 else " at 400,000"))
        print(f"    CPU: PostgreSQL backend {recalc_backend:.1f} s, this process {recalc_cpu:.1f} s;"
              f" machine load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")
        print(f"  e.g. {sample.basis_members} members, net {sample.basis_net_income_12m:.2f} a year -> {sample.monthly_amount} a month")
        print(f"  lookup by ID number      p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   ({lookups:,} lookups)   target p99 <= {TARGET_LOOKUP_P99_MS:.0f} ms")
        print(f"    CPU per lookup: this process {lookup_cpu / lookups * 1000:.2f} ms, PostgreSQL backend {lookup_backend / lookups * 1000:.2f} ms")
        print(f"  peak memory (this process) {peak_mb():7.0f} MB   target <= {TARGET_PEAK_MB:.0f} MB")
    finally:
        await drop_databases(server_url, [name])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_eligibility", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20_000, help="persons (the issue: 1000000, in 400,000 households)")
    parser.add_argument("--lookups", type=int, default=5_000, help="timed lookups by ID number")
    args = parser.parse_args()
    server = os.environ.get("BENCH_DATABASE_URL")
    if server:
        asyncio.run(run(server, args.size, args.lookups))
        return
    with tempfile.TemporaryDirectory(prefix="bench-eligibility-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port())
        pg.start()
        try:
            asyncio.run(run(pg.url, args.size, args.lookups))
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
