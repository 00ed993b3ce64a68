"""``python -m deploy.demo`` (``make demo``): replay 2020 in Quangang through the running suite.

The administrator's password: ``--admin-password``, else the environment variable
``ADMIN_PASSWORD``, else the file ``make run`` writes when it generates one
(``<SUITE_DATA_DIR or .data>/admin-password``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from deploy.demo.phases import YEAR, DemoConfig, DemoError, Replay, format_kpis, format_summary

ROOT = Path(__file__).resolve().parents[2]


def admin_password(given: str | None) -> str | None:
    """The password from the option, the environment, or the file the suite wrote."""
    if given:
        return given
    if os.environ.get("ADMIN_PASSWORD"):
        return os.environ["ADMIN_PASSWORD"]
    path = Path(os.environ.get("SUITE_DATA_DIR", str(ROOT / ".data"))) / "admin-password"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.demo",
        description="Replay 2020 in Quangang district through the gateway's REST API: a synthetic population, "
                    "the real CPI series and calendar, the standard raised from 600 to 720, and a year of "
                    "applications, relief, payment runs, care, visits and wishes.",
    )
    parser.add_argument("--households", type=int, default=20_000, help="synthetic households to register (default 20000)")
    parser.add_argument("--seed", type=int, default=2020, help="seed of every random choice (default 2020): same seed, same people")
    default_gateway = os.environ.get("DEMO_GATEWAY") or f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}"
    parser.add_argument("--gateway", default=default_gateway,
                        help="the gateway's base URL (default http://127.0.0.1:8000, or $GATEWAY_PORT as `make run` uses it)")
    parser.add_argument("--admin-password", default=None,
                        help="password of 'admin' (default: $ADMIN_PASSWORD, else .data/admin-password written by `make run`)")
    parser.add_argument("--year", type=int, default=YEAR, choices=[YEAR],
                        help="the year replayed (2020: the year whose CPI, calendar and standard the demo holds)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight at most (default 16)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, only the summary")
    args = parser.parse_args(argv)
    if args.households < 1:
        parser.error("--households must be at least 1")
    return args


async def amain(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    password = admin_password(args.admin_password)
    if not password:
        print("No administrator password: pass --admin-password, set ADMIN_PASSWORD, or start the suite with "
              "`make run` (it writes .data/admin-password).", file=sys.stderr)
        return 2
    config = DemoConfig(households=args.households, seed=args.seed, gateway=args.gateway, admin_password=password,
                        year=args.year, concurrency=args.concurrency, quiet=args.quiet)
    print(f"Quangang {args.year} replay: {args.households:,} households, seed {args.seed}, gateway {args.gateway}", flush=True)
    try:
        result = await Replay(config).run()
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    print(format_summary(result))
    print(format_kpis(result.kpis))
    return 1 if result.failures else 0


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(amain(argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
