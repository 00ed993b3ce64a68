"""Benchmark of the relief SLA timer loop (R-TR-2).

    python -m tests.bench.bench_relief                 # 20,000 open cases, 2,000 breaches (~1 min)
    python -m tests.bench.bench_relief --size 100000   # the issue's size: 100,000 open cases, 10,000 breaches

With ``--size`` open emergency cases (each with its at-risk and breach timers pending), it times

1. one timer pass when nothing is due — target ≤ 100 ms: a single probe of the partial index on
   the pending timers' ``due_at`` (``ix_case_timers_pending_due``), whatever the number of open
   cases;
2. the pass that emits ``--breaches`` (default size / 10) breach events — target ≤ 10 s for
   10,000: claimed 500 at a time with ``FOR UPDATE SKIP LOCKED``, one outbox row, one history row
   and the fired marker per timer, one transaction per batch.

It runs the service's own code (``run_timer_pass``) on a database migrated with the service's
migrations. PostgreSQL is embedded unless ``BENCH_DATABASE_URL`` names a server. Figures are
printed beside their targets, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from deploy.embedded import EmbeddedPostgres, database_url, drop_databases, ensure_databases, free_port
from services.relief.cases.timers import run_timer_pass
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.events.models import OutboxEvent
from shared.migrations import upgrade

TARGET_IDLE_MS = 100.0
TARGET_BREACH_S_PER_10K = 10.0
NOW = datetime.fromisoformat("2020-06-15T09:00:00+08:00")

# Open emergency cases; case i is due (deadline passed at NOW) when i < breaches. The due cases'
# at-risk warnings already fired; every other case has both timers pending, due from 1 day on.
LOAD_CASES = """
INSERT INTO cases (id, kind, status, town, applicant_type, non_local_category, applicant_name, cause, reason,
                   amount_requested, documents, accepted_at, accepted_by, deadline_date, deadline_at, at_risk_at,
                   provisional, sla_working_days, at_risk_working_days, paperwork_provisional, parameters_used,
                   opened_by, created_at, updated_at)
SELECT md5('case' || i)::uuid, 'emergency', 'open',
       (ARRAY['350505001','350505100','350505101','350505102','350505103','350505105','350505106'])[1 + i % 7],
       'non_local', 'migrant_worker', 'bench', 'accident', 'bench', 1000.00, '[]'::jsonb,
       d.deadline - interval '7 days', 'bench', (d.deadline - interval '1 day')::date, d.deadline,
       d.deadline - interval '1 day', false, 5, 1, false, '[]'::jsonb, 'bench', :now, :now
FROM generate_series(0, :size - 1) AS i,
     LATERAL (SELECT CASE WHEN i < :breaches THEN CAST(:now AS timestamptz) - interval '1 hour'
                          ELSE CAST(:now AS timestamptz) + interval '2 days' + (i % 5000) * interval '1 minute' END AS deadline) d
"""
LOAD_TIMERS = """
INSERT INTO case_timers (case_id, kind, due_at, fired_at, outcome)
SELECT c.id, k.kind, CASE k.kind WHEN 'sla_breach' THEN c.deadline_at ELSE c.at_risk_at END,
       CASE WHEN k.kind = 'sla_at_risk' AND c.deadline_at <= :now THEN c.at_risk_at END,
       CASE WHEN k.kind = 'sla_at_risk' AND c.deadline_at <= :now THEN 'fired' END
FROM cases c CROSS JOIN (VALUES ('sla_at_risk'), ('sla_breach')) AS k(kind)
"""


async def run(server_url: str, size: int, breaches: int, idle_runs: int) -> None:
    name = f"bench_relief_{uuid.uuid4().hex[:6]}"
    await ensure_databases(server_url, [name])
    url = database_url(server_url, name)
    try:
        await asyncio.to_thread(upgrade, "relief", url)
        engine = make_engine(url, pool_size=5)
        sessions = make_sessionmaker(engine)
        clock = ControllableClock(NOW)

        def uow(correlation_id: str | None = None) -> UnitOfWork:
            return UnitOfWork(sessions, source="/services/relief", clock=clock, correlation_id=correlation_id)

        started = time.perf_counter()
        async with engine.begin() as conn:
            params = {"size": size, "breaches": breaches, "now": NOW}
            await conn.execute(text(LOAD_CASES), params)
            await conn.execute(text(LOAD_TIMERS), {"now": NOW})
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE cases"))
            await conn.execute(text("VACUUM ANALYZE case_timers"))
        print(f"loaded {size:,} open cases ({2 * size - breaches:,} pending timers) in {time.perf_counter() - started:.1f} s")

        # 1. Nothing due: the clock just before the earliest pending timer.
        clock.set(NOW - timedelta(hours=2))
        await run_timer_pass(uow)  # warm the pool and the caches
        idle = []
        for _ in range(idle_runs):
            t0 = time.perf_counter()
            result = await run_timer_pass(uow)
            idle.append((time.perf_counter() - t0) * 1000)
            assert result.total_fired == 0
        async with engine.connect() as conn:
            plan = [r[0] for r in (await conn.execute(text(
                "EXPLAIN SELECT * FROM case_timers WHERE fired_at IS NULL AND due_at <= :now "
                "ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED"), {"now": NOW - timedelta(hours=2)})).all()]

        # 2. The breaches fall due.
        clock.set(NOW)
        t0 = time.perf_counter()
        result = await run_timer_pass(uow, batch_size=500)
        breach_s = time.perf_counter() - t0
        async with sessions() as session:
            emitted = await session.scalar(select(func.count()).select_from(OutboxEvent)
                                           .where(OutboxEvent.event_type == "relief.sla.breached"))
        t0 = time.perf_counter()
        after = await run_timer_pass(uow)
        idle_after_ms = (time.perf_counter() - t0) * 1000
        await engine.dispose()

        fired = result.fired.get("relief.sla.breached", 0)
        per_10k = breach_s * 10_000 / max(fired, 1)
        print()
        print(f"relief timer loop, {size:,} open cases (PostgreSQL at {server_url.rsplit('@', 1)[-1]})")
        print(f"  pass with nothing due     median {statistics.median(idle):7.2f} ms   max {max(idle):7.2f} ms"
              f"   ({idle_runs} passes)   target <= {TARGET_IDLE_MS:.0f} ms")
        print(f"  query plan                {' / '.join(p.strip() for p in plan[:3])}")
        print(f"  emit {fired:,} breaches     {breach_s:7.2f} s  ({result.batches} batches, {fired / breach_s:,.0f} events/s;"
              f" {per_10k:.2f} s per 10,000)   target <= {TARGET_BREACH_S_PER_10K:.0f} s per 10,000")
        print(f"  outbox rows               {emitted:,} relief.sla.breached (expected {breaches:,})")
        print(f"  next pass (nothing due)   {idle_after_ms:7.2f} ms, fired {after.total_fired}")
    finally:
        await drop_databases(server_url, [name])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_relief", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20_000, help="open cases (the issue: 100000)")
    parser.add_argument("--breaches", type=int, default=None, help="cases whose deadline has passed (default size / 10)")
    parser.add_argument("--idle-runs", type=int, default=20, help="timed passes with nothing due")
    args = parser.parse_args()
    breaches = args.breaches if args.breaches is not None else args.size // 10
    if not 0 <= breaches <= args.size:
        parser.error("--breaches must be between 0 and --size")
    server = os.environ.get("BENCH_DATABASE_URL")
    if server:
        asyncio.run(run(server, args.size, breaches, args.idle_runs))
        return
    with tempfile.TemporaryDirectory(prefix="bench-relief-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port())
        pg.start()
        try:
            asyncio.run(run(pg.url, args.size, breaches, args.idle_runs))
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
