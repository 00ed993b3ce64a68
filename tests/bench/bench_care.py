"""Benchmark of the care service's visit plans (R-LB-2): the overdue sweep and a volunteer's due list.

    python -m tests.bench.bench_care                  # 20,000 persons under visit plans (~1 min)
    python -m tests.bench.bench_care --size 200000    # the issue's size

With ``--size`` persons under active visit plans, paired with ``size / 100`` volunteers (100 persons
each), of which 5% are due and unvisited (not yet reported), 5% overdue and already reported, and
the rest due within the next 60 days, it times

0. an empty transaction through the same stack (the host's baseline: on a busy machine every
   figure below is a multiple of it);
1. the overdue sweep that fires the 5% (``size / 20`` ``care.visit.overdue`` events) — target
   ≤ 2 s: claims of ``--batch`` plans with one set-based ``UPDATE … FROM (SELECT … FOR UPDATE SKIP
   LOCKED) RETURNING`` on the partial index ``ix_visit_plans_overdue_claim`` and one multi-row
   outbox insert per batch, one transaction per batch (the service's ``run_sweep`` /
   ``sweep_overdue_visits``);
2. the same sweep run by two sweepers at once on a fresh set of due plans (they split the work;
   each plan fires once — checked);
3. a sweep when nothing is due (the index probe alone);
4. ``GET /api/v1/care/my/visits-due`` for random volunteers, sequentially: the query on the
   ``(volunteer_id, next_due, id)`` partial index joined with the persons, plus the audit row and
   the commit the endpoint does — target p99 ≤ 20 ms.

It runs the service's own functions on a database migrated with the service's migrations.
PostgreSQL is embedded unless ``BENCH_DATABASE_URL`` names a server. Figures are printed beside
their targets, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from deploy.embedded import EmbeddedPostgres, database_url, drop_databases, ensure_databases, free_port
from services.care.config import Settings
from services.care.persons.service import audit
from services.care.visits.service import sweep_overdue_visits, visits_due
from services.care.workers import run_sweep
from shared.auth import VOLUNTEER, Principal
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.events.models import OutboxEvent
from shared.migrations import upgrade

TARGET_SWEEP_S = 2.0
TARGET_DUE_P99_MS = 20.0
NOW = datetime.fromisoformat("2020-06-15T09:00:00+08:00")
TODAY = date(2020, 6, 15)
TOWNS = "ARRAY['350505001','350505100','350505101','350505102','350505103','350505105','350505106']"

LOAD = [
    f"""
    INSERT INTO volunteers (id, sub, name, kind, town, active, created_at)
    SELECT md5('vol' || v)::uuid, 'bench-vol-' || v, 'bench', 'volunteer', ({TOWNS})[1 + v % 7], true, now()
    FROM generate_series(0, :volunteers - 1) AS v
    """,
    f"""
    INSERT INTO persons (id, source, name, town, long_term_care, tekun, created_at)
    SELECT md5('person' || i)::uuid, 'care', 'bench', ({TOWNS})[1 + i % 7], false, false, now()
    FROM generate_series(0, :size - 1) AS i
    """,
    # i % 20 = 0: due before today, not yet reported (the sweep fires these);
    # i % 20 = 1: due before today, already reported; otherwise due in the next 60 days.
    f"""
    INSERT INTO visit_plans (id, person_id, category, town, volunteer_id, interval_days, parameter_version_id,
                             starts_on, next_due, status, overdue_fired_at, overdue_count, created_by, created_at)
    SELECT md5('plan' || i)::uuid, md5('person' || i)::uuid, 'left_behind_elderly', ({TOWNS})[1 + i % 7],
           md5('vol' || (i % :volunteers))::uuid, 30, 1, DATE '2020-04-01',
           CASE WHEN i % 20 IN (0, 1) THEN CAST(:today AS date) - 1 - (i / 20) % 10
                ELSE CAST(:today AS date) + (i / 20) % 60 END,
           'active', CASE WHEN i % 20 = 1 THEN CAST(:now AS timestamptz) END, CASE WHEN i % 20 = 1 THEN 1 ELSE 0 END,
           'bench', now()
    FROM generate_series(0, :size - 1) AS i
    """,
]
# A second wave of due plans for the two-sweeper run: every plan with i % 20 = 2 falls due.
REARM = """
UPDATE visit_plans SET next_due = CAST(:today AS date) - 1
WHERE id IN (SELECT md5('plan' || i)::uuid FROM generate_series(0, :size - 1) AS i WHERE i % 20 = 2)
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def load(url: str, size: int) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for statement in LOAD:
                await conn.execute(text(statement), {"size": size, "volunteers": max(1, size // 100), "today": TODAY, "now": NOW})
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


async def bench(url: str, size: int, batch: int, lookups: int) -> None:
    started = time.perf_counter()
    await load(url, size)
    print(f"  loaded {size:,} persons and visit plans, {max(1, size // 100):,} volunteers in {time.perf_counter() - started:.1f} s")
    engine = make_engine(url, pool_size=4)
    sessions = make_sessionmaker(engine)
    clock = ControllableClock(NOW)

    def uow() -> UnitOfWork:
        return UnitOfWork(sessions, source="/services/care", clock=clock)

    try:
        # 0. the machine's baseline: an empty transaction (BEGIN; SELECT 1; COMMIT) through the same stack
        baseline = []
        for _ in range(200):
            t0 = time.perf_counter()
            async with uow() as work:
                await work.session.execute(text("SELECT 1"))
                await work.commit()
            baseline.append((time.perf_counter() - t0) * 1000)
        # 1. the sweep firing size/20 overdue plans
        t0 = time.perf_counter()
        fired = await run_sweep(uow, sweep_overdue_visits, batch=batch)
        sweep_s = time.perf_counter() - t0
        # 2. two sweepers at once on another size/20
        async with engine.begin() as conn:
            await conn.execute(text(REARM), {"size": size, "today": TODAY})
        t0 = time.perf_counter()
        a, b = await asyncio.gather(
            run_sweep(uow, sweep_overdue_visits, batch=batch), run_sweep(uow, sweep_overdue_visits, batch=batch)
        )
        duo_s = time.perf_counter() - t0
        async with sessions() as session:
            subjects = Counter(
                (await session.scalars(
                    select(OutboxEvent.envelope["subject"].astext).where(OutboxEvent.event_type == "care.visit.overdue")
                )).all()
            )
            outbox = await session.scalar(select(func.count()).select_from(OutboxEvent))
        # 3. nothing due
        idle = []
        for _ in range(20):
            t0 = time.perf_counter()
            await run_sweep(uow, sweep_overdue_visits, batch=batch)
            idle.append((time.perf_counter() - t0) * 1000)
        # 4. a volunteer's due list, as the endpoint runs it
        volunteers = max(1, size // 100)
        rng = random.Random(7)
        timings, sizes = [], []
        for n in range(lookups + 50):
            sub = f"bench-vol-{rng.randrange(volunteers)}"
            principal = Principal(subject=sub, roles=frozenset({VOLUNTEER}))
            t0 = time.perf_counter()
            async with uow() as work:
                rows = await visits_due(work, sub=sub, on=TODAY, within_days=7, limit=50, after=None)
                audit(work, principal, "visits_due.read", count=min(len(rows), 50))
                await work.commit()
            if n >= 50:  # warm-up excluded
                timings.append((time.perf_counter() - t0) * 1000)
                sizes.append(len(rows))
        async with engine.connect() as conn:
            plan = (await conn.execute(text(
                "EXPLAIN SELECT id FROM visit_plans WHERE volunteer_id = md5('vol1')::uuid AND status = 'active' "
                "AND next_due <= DATE '2020-06-22' ORDER BY next_due, id LIMIT 51"
            ))).scalars().all()
    finally:
        await engine.dispose()

    expected = size // 20 + (1 if size % 20 > 0 else 0)
    print()
    print(f"  baseline: empty transaction p50    {percentile(baseline, 50):>12.2f} ms   p99 {percentile(baseline, 99):.2f} ms"
          "   (this host's own round trip under its current load)")
    print(f"  persons under visit plans          {size:>12,}")
    print(f"  overdue sweep: fired               {fired:>12,}   (expected {expected:,})")
    print(f"  overdue sweep: time                {sweep_s:>12.3f} s   target <= {TARGET_SWEEP_S:.1f} s   "
          f"({'met' if sweep_s <= TARGET_SWEEP_S else 'NOT met'})")
    print(f"  two sweepers at once: fired        {a + b:>12,}   ({a:,} + {b:,}) in {duo_s:.3f} s")
    print(f"  each plan fired once               {max(subjects.values()) == 1 and outbox == sum(subjects.values())!s:>12}"
          f"   ({len(subjects):,} plans, {outbox:,} outbox rows)")
    print(f"  sweep with nothing due: median     {statistics.median(idle):>12.2f} ms")
    print(f"  volunteer's due list: p50          {percentile(timings, 50):>12.2f} ms   ({lookups:,} lookups, "
          f"{statistics.mean(sizes):.1f} items on average)")
    print(f"  volunteer's due list: p99          {percentile(timings, 99):>12.2f} ms   target <= {TARGET_DUE_P99_MS:.0f} ms   "
          f"({'met' if percentile(timings, 99) <= TARGET_DUE_P99_MS else 'NOT met'})")
    print(f"  due-list plan: {plan[0].strip()}")
    for line in plan[1:]:
        print(f"                 {line.strip()}")


async def main(args: argparse.Namespace) -> None:
    server_url = os.environ.get("BENCH_DATABASE_URL")
    postgres = None
    with tempfile.TemporaryDirectory(prefix="bench-care-") as tmp:
        if not server_url:
            postgres = EmbeddedPostgres(Path(tmp) / "pg", free_port())
            server_url = await asyncio.to_thread(postgres.start)
        name = f"bench_care_{uuid.uuid4().hex[:8]}"
        await ensure_databases(server_url, [name])
        url = database_url(server_url, name)
        try:
            await asyncio.to_thread(upgrade, "care", url)
            await bench(url, args.size, args.batch, args.lookups)
        finally:
            await drop_databases(server_url, [name])
            if postgres is not None:
                await asyncio.to_thread(postgres.stop)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20_000, help="persons under visit plans (issue: 200000)")
    parser.add_argument("--batch", type=int, default=Settings().sweep_batch_size,
                        help="plans claimed per sweep transaction (default: the service's setting)")
    parser.add_argument("--lookups", type=int, default=1_000, help="due-list requests timed")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
