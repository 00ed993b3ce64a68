"""Infrastructure fixtures shared by every test: a real PostgreSQL and a real nats-server.

PostgreSQL: the machine's server when ``TEST_DATABASE_URL`` is set (``.ci/run`` does that for its
second pass), otherwise an embedded server from the wheel in a temporary folder. nats-server is
always started from the wheel, so a test can stop and restart it. Every database a test creates
has a unique name and is dropped at the end of the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from deploy.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    database_url,
    drop_databases,
    ensure_databases,
    free_port,
)

SHARED_HANDOUT = Path(__file__).resolve().parents[1].parent / "shared"
CASES = SHARED_HANDOUT / "cases"


def load_cases(name: str) -> list[dict]:
    """The acceptance cases of ``../shared/cases/<name>`` (read-only handout)."""
    import json

    return json.loads((CASES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server (no database part)."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """A nats-server with JetStream from the wheel, owned by the test session."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


class DatabaseFactory:
    """Creates uniquely named databases on the test server and drops them all at the end."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.created: list[str] = []

    async def create(self, label: str) -> str:
        """A new empty database; returns its SQLAlchemy (asyncpg) URL."""
        name = f"t_{label}_{uuid.uuid4().hex[:8]}"
        await ensure_databases(self.server_url, [name])
        self.created.append(name)
        return database_url(self.server_url, name)


@pytest.fixture(scope="session")
async def databases(pg_server_url: str) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_server_url)
    yield factory
    await _drop_quietly(pg_server_url, factory.created)


async def _drop_quietly(server_url: str, names: list[str]) -> None:
    """Drop test databases; a server that is already going away must not fail the session."""
    try:
        await drop_databases(server_url, names)
    except (OSError, ConnectionError) as exc:
        print(f"could not drop test databases ({type(exc).__name__}); the server is going away")
    except Exception as exc:  # asyncpg's own connection errors
        if "connection" not in str(exc).lower():
            raise
        print(f"could not drop test databases ({type(exc).__name__})")


# ---------------------------------------------------------------------------------------------
# The whole suite, for end-to-end tests through the gateway.


@pytest.fixture(scope="session")
async def suite(pg_server_url: str, nats_server: EmbeddedNats, tmp_path_factory: pytest.TempPathFactory):
    """The gateway and the five services as real processes, in test mode, on free ports.

    Databases are named ``t<hex>_<component>`` on the test PostgreSQL server and dropped at the end.
    Process output goes to ``<tmp>/logs/<component>.log``.
    """
    import asyncio

    from deploy.suite import COMPONENTS, Suite, SuiteConfig

    prefix = f"t{uuid.uuid4().hex[:6]}_"
    config = SuiteConfig(
        data_dir=tmp_path_factory.mktemp("suite"),
        database_url=pg_server_url,
        nats_url=nats_server.url,
        mode="test",
        db_prefix=prefix,
        ports={name: free_port() for name in COMPONENTS},
        admin_password="admin-test-password",
        log_dir=tmp_path_factory.mktemp("logs"),
        log_level="INFO",
    )
    running = Suite(config)
    try:
        await running.start()
        yield running
    finally:
        await asyncio.to_thread(running.stop)
        await _drop_quietly(pg_server_url, [f"{prefix}{name}" for name in COMPONENTS])


@pytest.fixture(scope="session")
def gateway_url(suite) -> str:
    return suite.config.url("gateway")


async def get_token(gateway: str, username: str, password: str) -> str:
    """A bearer token through the password grant (``POST /oauth/token``)."""
    import httpx

    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        response = await client.post(
            "/oauth/token", data={"grant_type": "password", "username": username, "password": password}
        )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture(scope="session")
async def admin_token(gateway_url: str) -> str:
    return await get_token(gateway_url, "admin", "admin-test-password")


@pytest.fixture(scope="session")
async def api(gateway_url: str, admin_token: str):
    """An httpx client on the gateway, authenticated as the district administrator."""
    import httpx

    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=30, headers={"Authorization": f"Bearer {admin_token}"}
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def make_user(api):
    """Create a staff/donor user through the admin API; returns (username, token)."""

    async def factory(role: str, *, town: str | None = None, village: str | None = None) -> tuple[str, str]:
        username = f"{role}_{uuid.uuid4().hex[:8]}"
        password = "pw-" + uuid.uuid4().hex
        body = {"username": username, "password": password, "roles": [role], "display_name": f"Test {role}"}
        if town:
            body["town"] = town
        if village:
            body["village"] = village
        response = await api.post("/api/v1/admin/users", json=body)
        assert response.status_code == 201, response.text
        return username, await get_token(str(api.base_url).rstrip("/"), username, password)

    return factory


@pytest.fixture(scope="session")
async def set_clock(api):
    """Set the suite's shared clock (test mode): ``await set_clock("2020-06-15T09:00:00+08:00")``."""

    async def setter(now: str, *, running: bool = False) -> dict:
        response = await api.put("/api/v1/admin/clock", json={"now": now, "running": running})
        assert response.status_code == 200, response.text
        return response.json()

    return setter
