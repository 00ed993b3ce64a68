"""Benchmark of a monthly payment run: snapshot + cross-check, bank-file issue, bank file.

    python -m tests.bench.bench_subsidy --size 1000000

Builds a roster of ``--size`` dibao benefits (one payee each, with a few deaths, ended benefits
and missing accounts so the cross-check has work to do), then times the service's own code paths:
``runs.service.create_run`` + ``process_next_step`` (the set-based snapshot and cross-check),
``approve_run`` + ``issue_bank_file`` (re-check of deaths and ended benefits, totals frozen) and
``stream_bank_file`` (COPY … TO STDOUT streamed to a file). The SQL floor is one plain statement
doing the same join on the same data in the same database: ``CREATE TABLE … AS SELECT`` of the
snapshot's join and expressions into a table without indexes (and, for reference, the same join
only counted). A CHECKPOINT precedes each timed phase (the set-up's writes are not timed). Peak
memory is this process's maximum resident set size.
PostgreSQL is embedded unless ``BENCH_DATABASE_URL`` names a server. Targets are printed beside
the figures, not asserted; the verdicts are on wall-clock time, as the issue states them.

Wall-clock time moves with the machine's load (other processes competing for the cores). With
the embedded server the CPU time spent is printed too — the server's processes (backends,
background writers, parallel and autovacuum workers) plus this process — for each phase and
for the floor: a reference that load moves much less, printed beside the verdict, not instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import text

from deploy.embedded import EmbeddedPostgres, database_url, drop_databases, ensure_databases, free_port
from services.subsidy.runs import service as runs
from shared.auth import Principal
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.migrations import upgrade

TARGET_SECONDS = 60.0
TARGET_FLOOR_RATIO = 2.0
TARGET_PEAK_MB = 1024.0
MONTH = date(2020, 6, 1)
ADMIN = Principal(subject="bench", roles=frozenset({"district_admin"}))

ROSTER = """
INSERT INTO roster_households (household_id, town, village, registered_poor, ex_poor, edge, lonely_elderly, event_time)
SELECT 'h' || g, '350505100', '350505100001', g % 7 = 0, false, false, false, now()
  FROM generate_series(1, :n) g;
INSERT INTO roster_persons (person_id, household_id, town, village, name, sex, long_term_care, serious_illness,
                            work_injury_care_allowance, bank_account, deceased_on, child_without_care,
                            revolutionary_veteran, event_time)
SELECT 'p' || g, 'h' || g, '350505100', '350505100001',
       (ARRAY['王小英', '林大山', '陈晓', '欧阳明月'])[1 + g % 4], 'female', false, false, false,
       CASE WHEN g % 1000 = 0 THEN NULL ELSE '62220' || lpad(g::text, 14, '0') END,
       CASE WHEN g % 997 = 0 THEN DATE '2020-03-14' END, false, false, now()
  FROM generate_series(1, :n) g;
INSERT INTO roster_benefits (benefit_id, household_id, person_id, category, monthly_amount, net_income_12m,
                             members_count, amount_basis, effective_month, last_month, town, village, rule, event_time)
SELECT 'b' || g, 'h' || g, 'p' || g, 'dibao', 500.00, (g % 5000) * 2.40, 1 + g % 4, 'gap', DATE '2020-01-01',
       CASE WHEN g % 499 = 0 THEN DATE '2020-05-01' END, '350505100', '350505100001', 'R-DB-4', now()
  FROM generate_series(1, :n) g;
INSERT INTO roster_benefit_members (benefit_id, person_id) SELECT 'b' || g, 'p' || g FROM generate_series(1, :n) g;
"""

# The snapshot's join and expressions for the dibao part of the assistance group, plain.
FLOOR_SELECT = """
SELECT b.person_id, b.person_id AS payee_id, b.household_id, b.benefit_id, b.category AS benefit, DATE '2020-06-01' AS month,
       CASE WHEN b.amount_basis = 'gap' THEN GREATEST(round(720.00 * b.members_count - b.net_income_12m / 12, 2), 0)
            ELSE b.monthly_amount END AS amount,
       COALESCE(p.town, b.town) AS town, COALESCE(p.village, b.village) AS village, p.name, p.bank_account,
       CASE WHEN p.deceased_on < DATE '2020-06-01' THEN 'deceased'
            WHEN b.last_month < DATE '2020-06-01' THEN 'benefit_ended' END AS reason
  FROM roster_benefits b LEFT JOIN roster_persons p ON p.person_id = b.person_id
 WHERE b.category IN ('dibao', 'dibao_single_person') AND b.effective_month <= DATE '2020-06-01'
   AND (b.last_month IS NULL OR b.last_month >= DATE '2020-05-01')"""


class _Discard:
    """A COPY sink that only counts the bytes (the reference's bank file goes nowhere)."""

    def __init__(self) -> None:
        self.bytes = 0

    async def write(self, chunk: bytes) -> None:
        self.bytes += len(chunk)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class CpuClock:
    """CPU seconds used so far by a local PostgreSQL server (its postmaster and every child
    process, read from /proc) and by this process. ``None`` when the server's processes cannot be
    read (a remote server, or not Linux)."""

    def __init__(self, postmaster_pid: int | None) -> None:
        self.postmaster_pid = postmaster_pid
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def server(self) -> float | None:
        if self.postmaster_pid is None or not Path(f"/proc/{self.postmaster_pid}").exists():
            return None
        ticks = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(entry.name) == self.postmaster_pid or int(fields[1]) == self.postmaster_pid:
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / self.tick

    def now(self) -> float | None:
        server = self.server()
        if server is None:
            return None
        own = resource.getrusage(resource.RUSAGE_SELF)
        return server + own.ru_utime + own.ru_stime


def load_average() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


async def bench(server_url: str, size: int, postmaster_pid: int | None = None) -> None:
    cpu = CpuClock(postmaster_pid)
    load_before = load_average()
    name = f"bench_subsidy_{uuid.uuid4().hex[:6]}"
    await ensure_databases(server_url, [name])
    url = database_url(server_url, name)
    try:
        await asyncio.to_thread(upgrade, "subsidy", url)
        engine = make_engine(url, pool_size=4)
        sessions = make_sessionmaker(engine)
        clock = ControllableClock()
        clock.set(__import__("datetime").datetime.fromisoformat("2020-06-15T09:00:00+08:00"))

        def uow(correlation_id: str | None = None) -> UnitOfWork:
            return UnitOfWork(sessions, source="/services/subsidy", clock=clock, correlation_id=correlation_id)

        started = time.perf_counter()
        async with engine.begin() as conn:
            for statement in ROSTER.strip().split(";\n"):
                if statement.strip():
                    await conn.execute(text(statement), {"n": size})
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("roster_persons", "roster_benefits", "roster_benefit_members", "payment_lines"):
                await conn.execute(text(f"VACUUM ANALYZE {table}"))
            # Flush the set-up's dirty pages now, so the timed phases do not pay for them.
            await conn.execute(text("CHECKPOINT"))
        print(f"roster of {size:,} benefits built in {time.perf_counter() - started:.1f} s")
        memory_before = peak_mb()

        # --- our code paths -------------------------------------------------------------
        c0 = cpu.now()
        t0 = time.perf_counter()
        async with uow() as u:
            run = await runs.create_run(uow=u, principal=ADMIN, month=MONTH, group="assistance")
            await u.commit()
        claimed = await runs.process_next_step(uow)
        t_snapshot = time.perf_counter() - t0
        c1 = cpu.now()
        assert claimed
        t1 = time.perf_counter()
        async with uow() as u:
            await runs.approve_run(uow=u, principal=ADMIN, run_id=run.id)
            issued = await runs.issue_bank_file(uow=u, principal=ADMIN, run_id=run.id)
            await u.commit()
        t_issue = time.perf_counter() - t1
        c2 = cpu.now()
        t2 = time.perf_counter()
        written = lines = 0
        with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=True) as out:
            async for chunk in runs.stream_bank_file(engine, issued):
                out.write(chunk)
                written += len(chunk)
                lines += chunk.count(b"\n")
        t_file = time.perf_counter() - t2
        total = time.perf_counter() - t0
        c3 = cpu.now()
        assert lines == issued.bank_count + 2, (lines, issued.bank_count)
        async with uow() as u:
            checked = await runs.get_run(u, run.id)
            summary = await runs.drop_summary(u, run.id)
            candidates, payable, dropped = checked.lines_total, checked.lines_payable, checked.lines_dropped

        # --- the SQL floor: one plain statement, the same join on the same data ---------------
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("CHECKPOINT"))
        async with engine.begin() as conn:
            cf0 = cpu.now()
            f0 = time.perf_counter()
            await conn.execute(text(f"CREATE TABLE bench_floor AS {FLOOR_SELECT}"))
            floor = time.perf_counter() - f0
            cf1 = cpu.now()
            f1 = time.perf_counter()
            counted = (await conn.execute(text(f"SELECT count(*), sum(amount) FROM ({FLOOR_SELECT}) s"))).one()
            floor_select = time.perf_counter() - f1
            # Reference: the least any design keeping R-DS-3 in the database must add to the floor —
            # the never-twice unique index, built in one sorted pass after the rows (cheaper than
            # keeping it up line by line), and the bank file's columns sent out (no masking, no order).
            f3 = time.perf_counter()
            await conn.execute(text("CREATE UNIQUE INDEX ON bench_floor (month, benefit, person_id) WHERE reason IS NULL"))
            raw = await conn.get_raw_connection()
            sink = _Discard()
            await raw.driver_connection.copy_from_query(
                "SELECT bank_account, name, amount, person_id FROM bench_floor WHERE reason IS NULL", output=sink.write,
                format="csv")
            least_extra = time.perf_counter() - f3
            await conn.execute(text("DROP TABLE bench_floor"))
            # Reference: the same join written into a copy of payment_lines with its indexes (the
            # never-twice unique index and the primary key): the cost of the guarantee itself.
            await conn.execute(text("CREATE TABLE bench_floor_idx (LIKE payment_lines INCLUDING ALL)"))
            f2 = time.perf_counter()
            await conn.execute(text(f"""
                INSERT INTO bench_floor_idx (run_id, person_id, payee_id, household_id, benefit_id, benefit, month, amount,
                                             town, village, payee_name, bank_account, status, drop_reason)
                SELECT gen_random_uuid(), person_id, payee_id, household_id, benefit_id, benefit, month, amount, town,
                       village, name, bank_account, CASE WHEN reason IS NULL THEN 'payable' ELSE 'dropped' END, reason
                  FROM ({FLOOR_SELECT}) s"""))
            floor_indexed = time.perf_counter() - f2
            await conn.execute(text("DROP TABLE bench_floor_idx"))
        await engine.dispose()
    finally:
        await drop_databases(server_url, [name])

    peak = peak_mb()
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    have_cpu = None not in (c0, c1, c2, c3, cf0, cf1)
    cpu_of = (lambda a, b: f"   cpu {b - a:6.2f} s") if have_cpu else (lambda a, b: "")  # noqa: E731
    print()
    print(f"payment run over {candidates:,} roster lines ({payable:,} payable at the snapshot, "
          f"{issued.bank_count:,} in the bank file, {dropped:,} dropped: "
          + ", ".join(f"{s['reason']} {s['lines']}" for s in summary) + ")")
    print(f"  snapshot + cross-check      {t_snapshot:8.2f} s{cpu_of(c0, c1)}")
    print(f"  approval + bank-file issue  {t_issue:8.2f} s{cpu_of(c1, c2)}   (re-check of deaths and ended benefits)")
    print(f"  bank file (COPY, streamed)  {t_file:8.2f} s{cpu_of(c2, c3)}   ({written / 1e6:.1f} MB)")
    print(f"  total                       {total:8.2f} s{cpu_of(c0, c3)}   target <= {TARGET_SECONDS:.0f} s   "
          f"{ok(total <= TARGET_SECONDS)}")
    print(f"  throughput                  {candidates / total:10,.0f} lines/s")
    print(f"  SQL floor (CREATE TABLE AS) {floor:8.2f} s{cpu_of(cf0, cf1)}   ratio {total / floor:.2f}x   "
          f"target <= {TARGET_FLOOR_RATIO:.0f}x   {ok(total <= TARGET_FLOOR_RATIO * floor)}")
    if have_cpu:
        print(f"  (reference) CPU-time ratio  {(c3 - c0) / (cf1 - cf0):8.2f}x  (server processes + this process; "
              "much less moved by the machine's load than wall time)")
    print(f"  same join, counted only     {floor_select:8.2f} s   ({counted[0]:,} rows; ratio {total / floor_select:.2f}x)")
    print(f"  same join into payment_lines' indexes {floor_indexed:6.2f} s   (the never-twice index and the key; "
          f"ratio {total / floor_indexed:.2f}x)")
    print(f"  least any design adds       {least_extra:8.2f} s   (floor + never-twice index built after the rows + "
          f"bank-file columns copied out: {(floor + least_extra) / floor:.2f}x the floor)")
    print(f"  peak memory (this process)  {peak:8.0f} MB  (before the run {memory_before:.0f} MB)   "
          f"target <= {TARGET_PEAK_MB:.0f} MB   {ok(peak <= TARGET_PEAK_MB)}")
    print(f"  load average (1/5/15 min)   {load_before} at the start, {load_average()} at the end ({os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="roster lines (the issue's figure: 1000000)")
    args = parser.parse_args()
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        asyncio.run(bench(external, args.size))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg", free_port())
        server.start()
        try:
            pid_file = server.data_dir / "pgdata" / "postmaster.pid"
            postmaster = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
            asyncio.run(bench(server.url, args.size, postmaster))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
