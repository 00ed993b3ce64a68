"""Start, watch and stop the whole suite on one machine (``make run``, the end-to-end tests).

``python -m deploy.suite run`` starts PostgreSQL (embedded, unless ``DATABASE_URL`` points at a
server) and nats-server with JetStream (embedded, unless ``NATS_URL`` is set), creates one database
per component, applies every migration, starts the gateway and the five services as uvicorn
processes, creates the first administrator, prints where to look, and on Ctrl-C stops everything
it started. The tests drive the same :class:`Suite` in ``test`` mode.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import structlog

from deploy.embedded import EmbeddedNats, EmbeddedPostgres, database_url, ensure_databases

log = structlog.get_logger("deploy.suite")

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("eligibility", "relief", "subsidy", "care", "wishes")
COMPONENTS = ("gateway", *SERVICES)
DEFAULT_PORTS = {"gateway": 8000, "eligibility": 8101, "relief": 8102, "subsidy": 8103, "care": 8104, "wishes": 8105}
APPS = {name: f"services.{name}.app:create_app" for name in SERVICES} | {"gateway": "gateway.app:create_app"}


@dataclass
class SuiteConfig:
    """Where the suite runs; every field has an environment variable (see README)."""

    data_dir: Path = ROOT / ".data"
    database_url: str | None = None  # a server URL; None = embedded PostgreSQL
    nats_url: str | None = None  # None = embedded nats-server
    mode: str = "demo"
    db_prefix: str = ""
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    admin_password: str | None = None
    embedded_pg_port: int = 55432
    embedded_nats_port: int = 54222
    log_level: str = "INFO"
    log_dir: Path | None = None  # None = inherit stdout

    @classmethod
    def from_env(cls) -> SuiteConfig:
        env = os.environ
        config = cls(
            data_dir=Path(env.get("SUITE_DATA_DIR", str(ROOT / ".data"))),
            database_url=env.get("DATABASE_URL") or None,
            nats_url=env.get("NATS_URL") or None,
            mode=env.get("SUITE_MODE", "demo"),
            db_prefix=env.get("SUITE_DB_PREFIX", ""),
            admin_password=env.get("ADMIN_PASSWORD") or None,
            log_level=env.get("LOG_LEVEL", "INFO"),
            embedded_pg_port=int(env.get("SUITE_PG_PORT", "55432")),
            embedded_nats_port=int(env.get("SUITE_NATS_PORT", "54222")),
        )
        for name in COMPONENTS:
            if f"{name.upper()}_PORT" in env:
                config.ports[name] = int(env[f"{name.upper()}_PORT"])
        return config

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Children get SIGTERM if the launcher dies, so no process is left behind."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setsid()


class Suite:
    """The running suite: infrastructure, databases, migrations and the six processes."""

    def __init__(self, config: SuiteConfig) -> None:
        self.config = config
        self.postgres: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.server_url = config.database_url
        self.nats_url = config.nats_url
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.admin_password: str | None = None
        # One HMAC key of the list cursors for every process of this start (shared.pagination):
        # a cursor issued by one replica or process is accepted by the others.
        self.cursor_secret = secrets.token_urlsafe(32)

    def database(self, name: str) -> str:
        assert self.server_url is not None
        return database_url(self.server_url, f"{self.config.db_prefix}{name}")

    def env_for(self, name: str) -> dict[str, str]:
        """The environment of component ``name`` (its settings, prefix ``NAME_``)."""
        prefix = name.upper() + "_"
        env = dict(os.environ)
        gateway = self.config.url("gateway")
        env.update(
            {
                f"{prefix}DATABASE_URL": self.database(name),
                f"{prefix}NATS_URL": self.nats_url or "",
                f"{prefix}JWKS_URL": f"{gateway}/.well-known/jwks.json",
                f"{prefix}GATEWAY_URL": gateway,
                f"{prefix}MODE": self.config.mode,
                f"{prefix}HOST": self.config.host,
                f"{prefix}PORT": str(self.config.ports[name]),
                f"{prefix}LOG_LEVEL": self.config.log_level,
                f"{prefix}CURSOR_SECRET": self.cursor_secret,
                "PYTHONPATH": str(ROOT),
            }
        )
        if name == "gateway":
            import json

            env["GATEWAY_UPSTREAMS"] = json.dumps({s: self.config.url(s) for s in SERVICES})
            env["GATEWAY_PUBLIC_URL"] = gateway
        return env

    async def start_infrastructure(self) -> None:
        if self.server_url is None:
            self.postgres = EmbeddedPostgres(self.config.data_dir / "postgres", self.config.embedded_pg_port)
            self.server_url = await asyncio.to_thread(self.postgres.start)
        if self.nats_url is None:
            self.nats = EmbeddedNats(self.config.data_dir / "nats", self.config.embedded_nats_port)
            self.nats_url = await asyncio.to_thread(self.nats.start)
        await ensure_databases(self.server_url, [f"{self.config.db_prefix}{n}" for n in COMPONENTS])

    async def migrate(self) -> None:
        """``alembic upgrade head`` for every component, each in its own database (in parallel)."""
        await asyncio.gather(*(asyncio.to_thread(self._migrate_one, name) for name in COMPONENTS))

    def _migrate_one(self, name: str) -> None:
        # A subprocess, so each component's Alembic environment and models load in isolation.
        result = subprocess.run(
            [sys.executable, "-m", "deploy.migrate", name, self.database(name)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"migrations of {name} failed:\n{result.stderr[-4000:]}")

    async def bootstrap_admin(self) -> str | None:
        from gateway.bootstrap import ensure_admin
        from shared.db import make_engine, make_sessionmaker

        engine = make_engine(self.database("gateway"), pool_size=1)
        try:
            self.admin_password = await ensure_admin(make_sessionmaker(engine), self.config.admin_password)
        finally:
            await engine.dispose()
        return self.admin_password

    def spawn(self, name: str) -> None:
        port = self.config.ports[name]
        command = [
            sys.executable, "-m", "uvicorn", "--factory", APPS[name],
            "--host", self.config.host, "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--timeout-graceful-shutdown", "5",
            # Longer than the gateway's pooled keep-alive, so the gateway never reuses a
            # connection the service is closing (that surfaced as 502s under bursts).
            "--timeout-keep-alive", "65",
        ]
        output = None
        if self.config.log_dir is not None:
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.config.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env_for(name), stdout=output, stderr=subprocess.STDOUT if output else None,
            preexec_fn=_die_with_parent,
        )

    async def wait_ready(self, names: tuple[str, ...] = COMPONENTS, timeout: float = 60.0) -> None:
        """Wait until each component's ``/readyz`` answers 200 (fails fast if a process exits)."""
        deadline = time.monotonic() + timeout
        pending = set(names)
        async with httpx.AsyncClient(timeout=2.0) as client:
            while pending:
                for name in sorted(pending):
                    process = self.processes.get(name)
                    if process is not None and process.poll() is not None:
                        raise RuntimeError(f"{name} exited with code {process.returncode}")
                    try:
                        response = await client.get(f"{self.config.url(name)}/readyz")
                        if response.status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                if pending:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"not ready after {timeout}s: {', '.join(sorted(pending))}")
                    await asyncio.sleep(0.2)

    async def start(self) -> None:
        await self.start_infrastructure()
        await self.migrate()
        await self.bootstrap_admin()
        # The gateway first: services fetch its signing keys and the shared clock from it.
        self.spawn("gateway")
        await self.wait_ready(("gateway",))
        for name in SERVICES:
            self.spawn(name)
        await self.wait_ready()

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for name in [*SERVICES, "gateway"]:
            self.stop_process(name)
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()


def store_admin_password(data_dir: Path, password: str) -> Path:
    """Write the generated administrator password to ``<data_dir>/admin-password`` (mode 0600),
    where ``make demo`` finds it; returns the path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "admin-password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its mode on open: make sure
    return path


def where_to_look(gateway: str) -> list[str]:
    """The start-up banner's lines naming the suite's pages (``gateway``: its base URL)."""
    return [
        f"  Gateway   {gateway}",
        f"  API docs  {gateway}/docs",
        f"  Dashboard {gateway}/dashboard",
        f"  Health    {gateway}/readyz    Metrics {gateway}/metrics",
    ]


async def _run(config: SuiteConfig) -> int:
    from shared.logging import configure_logging

    configure_logging("launcher", config.log_level, json=False)
    suite = Suite(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await suite.start()
        gateway = config.url("gateway")
        print("\n  Quangang safety-net suite is running (mode: %s)\n" % config.mode)
        print("\n".join(where_to_look(gateway)))
        if suite.admin_password:
            print(f"\n  First administrator: admin / {suite.admin_password}   (shown once; keep it)")
            if not config.admin_password:  # generated: kept for `make demo`, readable by its owner only
                print(f"  (also written to {store_admin_password(config.data_dir, suite.admin_password)}, mode 0600)")
        else:
            print("\n  Administrator 'admin' already exists (password as set before).")
        print("\n  Ctrl-C stops everything.\n", flush=True)
        while not stop.is_set():
            for name, process in list(suite.processes.items()):
                if process.poll() is not None:
                    print(f"  {name} exited with code {process.returncode}; stopping the suite", flush=True)
                    stop.set()
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
        return 0
    finally:
        await asyncio.to_thread(suite.stop)
        print("  Stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.suite", description=__doc__)
    parser.add_argument("command", choices=["run"], help="run: start the suite and wait for Ctrl-C")
    args = parser.parse_args(argv)
    if args.command == "run":
        return asyncio.run(_run(SuiteConfig.from_env()))
    return 2


if __name__ == "__main__":
    sys.exit(main())
