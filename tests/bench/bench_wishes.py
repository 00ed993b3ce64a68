"""Benchmark: donors pledging concurrently on the "505" campaign, through the gateway.

    .venv/bin/python -m tests.bench.bench_wishes [--size 200] [--wishes 505] [--pledges-per-donor 3]
                                                 [--concurrency 50]

``--size`` is the number of donors (the issue's full run: ``--size 2000``). Starts the whole suite
in test mode (deploy.suite.Suite: gateway + five services as uvicorn processes, PostgreSQL and
nats-server embedded unless ``BENCH_DATABASE_URL`` / ``TEST_DATABASE_URL`` names a PostgreSQL
server), then:

1. setup (not measured): a campaign through the API; ``--wishes`` published wishes spread over the
   101 villages, written with the service's own use cases straight into its database (the
   families as its eligibility projection holds them); ``--size`` donors signed up through
   ``POST /oauth/register`` and logged in;
2. measured: every donor sends ``--pledges-per-donor`` pledges (``POST /api/v1/wishes/pledges``,
   one wish each, random wish and amount, some for "the rest of the wish"), ``--concurrency`` in
   flight at once through the gateway (by Little's law the targets mean about 50 in flight:
   500 pledges/s × 0.1 s);
3. checks: no wish is over-pledged (database and public board), and the accepted amounts add up to
   each wish's pledged total.

Prints pledges/s answered and accepted (201) and latency percentiles beside the targets
(>= 500 pledges/s, p99 <= 100 ms).
It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TARGET_RPS = 500.0
TARGET_P99_MS = 100.0
NOW = "2020-06-15T09:00:00+08:00"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def setup_wishes(database_url: str, campaign_id: int, count: int, rng: random.Random) -> list[int]:
    """``count`` published wishes over the 101 villages, through the service's use cases."""
    from datetime import datetime

    from services.wishes.campaigns import service as campaigns
    from services.wishes.campaigns.schemas import WishIn
    from services.wishes.families.models import Family
    from shared import regions
    from shared.auth import Principal
    from shared.clock import ControllableClock
    from shared.db import UnitOfWork, make_engine, make_sessionmaker

    engine = make_engine(database_url, pool_size=4)
    sessions = make_sessionmaker(engine)
    clock = ControllableClock(datetime.fromisoformat(NOW))
    ids: list[int] = []
    try:
        for i in range(count):
            village = regions.VILLAGES[i % len(regions.VILLAGES)]
            town = village.parent_code
            officer = Principal(f"bench-officer-{village.code}", roles=frozenset({"village_officer"}), town=town,
                                village=village.code)
            reviewer = Principal(f"bench-reviewer-{town}", roles=frozenset({"town_approver"}), town=town)
            household_id = f"bench-{uuid.uuid4()}"
            async with UnitOfWork(sessions, source="/services/wishes", clock=clock) as uow:
                uow.session.add(Family(household_id=household_id, town=town, village=village.code,
                                       registered_poor=True, lonely_elderly=False, child_in_difficulty=False,
                                       source_time=clock.now()))
                await uow.session.flush()
                wish = await campaigns.enter_wish(uow=uow, principal=officer, campaign_id=campaign_id, data=WishIn(
                    household_id=household_id, category="daily_necessities", title="生活用品一份",
                    cost=f"{rng.randint(150, 900)}.00"))
                await campaigns.publish_wish(uow=uow, principal=reviewer, wish_id=wish.id)
                await uow.commit()
                ids.append(wish.id)
    finally:
        await engine.dispose()
    return ids


async def check_totals(database_url: str, wish_ids: list[int]) -> tuple[int, int, int]:
    """(wishes over-pledged, wishes whose pledges do not add up, wishes fully pledged)."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        over = await conn.fetchval("SELECT count(*) FROM wishes WHERE pledged > cost AND id = ANY($1)", wish_ids)
        mismatched = await conn.fetchval("""
            SELECT count(*) FROM wishes w
             WHERE w.id = ANY($1) AND w.pledged <> COALESCE((SELECT sum(amount) FROM pledges p
                                                              WHERE p.wish_id = w.id AND p.status <> 'expired'), 0)""",
                                         wish_ids)
        full = await conn.fetchval("SELECT count(*) FROM wishes WHERE status = 'fully_pledged' AND id = ANY($1)",
                                   wish_ids)
    finally:
        await conn.close()
    return over, mismatched, full


async def main(args: argparse.Namespace) -> None:
    import aiohttp

    from deploy.embedded import drop_databases, free_port
    from deploy.suite import COMPONENTS, Suite, SuiteConfig

    rng = random.Random(args.seed)
    server_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-wishes-"))
    prefix = f"b{uuid.uuid4().hex[:6]}_"
    config = SuiteConfig(
        data_dir=data_dir, database_url=server_url, mode="test", db_prefix=prefix,
        ports={name: free_port() for name in COMPONENTS}, admin_password="bench-admin-password",
        embedded_pg_port=free_port(), embedded_nats_port=free_port(), log_dir=data_dir / "logs", log_level=args.log_level,
    )
    # Every simulated donor signs up from this one address: the per-IP limit on anonymous calls
    # (meant for one caller) would throttle the setup, not the system under test.
    os.environ.setdefault("GATEWAY_RATE_LIMIT_PER_MINUTE", "600000")
    os.environ.setdefault("GATEWAY_RATE_LIMIT_BURST", "20000")
    suite = Suite(config)
    print(f"starting the suite (logs in {config.log_dir}) …", flush=True)
    from shared.logging import configure_logging

    configure_logging("bench", "WARNING", json=False)
    await suite.start()
    gateway = config.url("gateway")
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=2.0)
        async with aiohttp.ClientSession(base_url=gateway, connector=connector) as http:
            async def token(username: str, password: str) -> str:
                async with http.post("/oauth/token", data={"grant_type": "password", "username": username,
                                                           "password": password}) as response:
                    assert response.status == 200, await response.text()
                    return (await response.json())["access_token"]

            admin = {"Authorization": f"Bearer {await token('admin', 'bench-admin-password')}"}
            async with http.put("/api/v1/admin/clock", json={"now": NOW, "running": False}, headers=admin) as r:
                assert r.status == 200, await r.text()
            async with http.post("/api/v1/wishes/campaigns", headers=admin, json={
                    "name": "bench", "starts_on": "2020-06-01", "ends_on": "2020-12-31"}) as r:
                assert r.status == 201, await r.text()
                campaign_id = (await r.json())["id"]

            started = time.perf_counter()
            wish_ids = await setup_wishes(suite.database("wishes"), campaign_id, args.wishes, rng)
            print(f"setup: {len(wish_ids)} published wishes in {time.perf_counter() - started:.1f} s", flush=True)

            started = time.perf_counter()
            gate = asyncio.Semaphore(8)

            async def sign_up(i: int) -> str:
                username, password = f"bench_donor_{i}_{uuid.uuid4().hex[:6]}", "pw-" + uuid.uuid4().hex
                async with gate:
                    async with http.post("/oauth/register", json={"username": username, "password": password,
                                                                  "display_name": f"donor {i}"}) as r:
                        assert r.status == 201, await r.text()
                    return await token(username, password)

            tokens = await asyncio.gather(*(sign_up(i) for i in range(args.size)))
            print(f"setup: {len(tokens)} donors signed up in {time.perf_counter() - started:.1f} s", flush=True)

            plan = []
            for t in tokens:
                for _ in range(args.pledges_per_donor):
                    wish_id = rng.choice(wish_ids)
                    amount = None if rng.random() < 0.05 else f"{rng.randint(5, 80)}.{rng.choice(['00', '50'])}"
                    plan.append((t, wish_id, amount))
            rng.shuffle(plan)

            latencies: list[float] = []
            statuses: Counter[int] = Counter()
            accepted: dict[int, Decimal] = {}
            in_flight = asyncio.Semaphore(args.concurrency)

            async def pledge(t: str, wish_id: int, amount: str | None, measure: bool = True) -> None:
                item = {"wish_id": wish_id} | ({"amount": amount} if amount else {})
                async with in_flight:
                    begin = time.perf_counter()
                    async with http.post("/api/v1/wishes/pledges", json={"items": [item]},
                                         headers={"Authorization": f"Bearer {t}"}) as response:
                        body = await response.json()
                        elapsed = time.perf_counter() - begin
                if not measure:
                    return
                latencies.append(elapsed * 1000)
                statuses[response.status] += 1
                if response.status == 201:
                    accepted[wish_id] = accepted.get(wish_id, Decimal(0)) + Decimal(body["pledges"][0]["amount"])
                elif response.status != 409:
                    print(f"unexpected {response.status}: {body}", flush=True)

            warmup = [(t, rng.choice(wish_ids), "1.00") for t in tokens[:50]]
            await asyncio.gather(*(pledge(*p, measure=False) for p in warmup))
            pids = {name: suite.processes[name].pid for name in ("gateway", "wishes")}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            began = time.perf_counter()
            await asyncio.gather(*(pledge(*p) for p in plan))
            elapsed = time.perf_counter() - began
            cpu_ms = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / len(plan) for name, pid in pids.items()}

            async with http.get("/api/v1/wishes/board", params={"campaign_id": campaign_id, "limit": 500}) as r:
                board = (await r.json())["items"]
        over, mismatched, full = await check_totals(suite.database("wishes"), wish_ids)
        board_over = sum(Decimal(w["pledged"]) > Decimal(w["cost"]) for w in board)
    finally:
        await asyncio.to_thread(suite.stop)
        if server_url:  # an external server keeps nothing of the run
            await drop_databases(server_url, [f"{prefix}{name}" for name in COMPONENTS])

    rps = len(plan) / elapsed
    p50, p95, p99 = (percentile(latencies, q) for q in (0.50, 0.95, 0.99))
    print()
    print(f"wishes {len(wish_ids)}, donors {len(tokens)}, pledges sent {len(plan)} "
          f"({args.concurrency} in flight), statuses {dict(sorted(statuses.items()))}")
    print(f"pledges/s          {rps:8.1f}   (target >= {TARGET_RPS:.0f})   {'OK' if rps >= TARGET_RPS else 'BELOW'}")
    # A 409 (the wish already fully pledged) is an answered pledge too, and a cheap one: the
    # accepted rate is printed beside it so that a run where most pledges miss cannot flatter.
    print(f"accepted (201)/s   {statuses[201] / elapsed:8.1f}   (target >= {TARGET_RPS:.0f})   "
          f"{'OK' if statuses[201] / elapsed >= TARGET_RPS else 'BELOW'}")
    print(f"latency p50 / p95  {p50:8.1f} / {p95:.1f} ms")
    print(f"latency p99        {p99:8.1f} ms (target <= {TARGET_P99_MS:.0f})   {'OK' if p99 <= TARGET_P99_MS else 'ABOVE'}")
    print(f"CPU per pledge     gateway {cpu_ms['gateway']:.1f} ms, wishes service {cpu_ms['wishes']:.1f} ms "
          f"(machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"wishes fully pledged {full}; over-pledged: {over} in the database, {board_over} on the board (must be 0); "
          f"pledges not adding up: {mismatched} (must be 0)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200, help="donors (the issue's size: 2000)")
    parser.add_argument("--wishes", type=int, default=505, help="published wishes (101 villages x 5)")
    parser.add_argument("--pledges-per-donor", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50,
                        help="pledge requests in flight (500/s at 100 ms each is 50 in flight)")
    parser.add_argument("--seed", type=int, default=505)
    parser.add_argument("--log-level", default="WARNING", help="of the suite's processes (INFO logs every request)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(main(arguments))
