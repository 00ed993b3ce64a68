"""A real gateway over real HTTP, with stand-in upstreams, for the gateway's tests.

Everything runs in the session's event loop with ``uvicorn.Server`` on free ports: two small
test-only ASGI upstreams (``echo`` answers what it received and records clock settings; ``hang``
never answers ``/slow``), ``crash`` (uvicorn closing the connection after a 500) and ``closing``
(a raw server closing keep-alive connections on cue), a ``down`` upstream nobody listens on, and two gateways sharing one
migrated database: ``gateway`` in test mode (upstream timeout 1 s) and ``strict`` in production
mode with a tiny rate limit.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from deploy.embedded import free_port
from gateway.app import create_app
from gateway.bootstrap import ensure_admin
from gateway.config import Settings
from shared.migrations import upgrade

ADMIN_PASSWORD = "admin-secret-1"
Scope = dict[str, Any]


@dataclass
class Echo:
    """The echo upstream's memory: every clock setting it was sent (body and Authorization)."""

    clock_settings: list[dict[str, Any]] = field(default_factory=list)
    openapi: dict[str, Any] = field(default_factory=dict)


async def _read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def _answer(send: Callable[[dict[str, Any]], Awaitable[None]], status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def echo_app(echo: Echo) -> Callable[..., Awaitable[None]]:
    """Answers ``{method, path, raw_path, query_string, headers, body}``; ``/internal/clock``
    records the setting; ``/openapi.json`` serves ``echo.openapi``; ``…/big`` streams 1 MiB."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = await _read_body(receive)
        path = scope["path"]
        headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
        if path == "/internal/clock" and scope["method"] == "PUT":
            echo.clock_settings.append({"body": json.loads(body), "authorization": dict(scope["headers"]).get(b"authorization", b"").decode()})
            await _answer(send, 200, json.loads(body))
            return
        if path == "/openapi.json":
            await _answer(send, 200, echo.openapi)
            return
        if path.endswith("/big"):
            chunk = b"x" * 65536
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/octet-stream")]})
            for _ in range(16):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await _answer(send, 200, {
            "method": scope["method"], "path": path, "raw_path": scope["raw_path"].decode("latin-1"),
            "query_string": scope["query_string"].decode("latin-1"), "headers": headers,
            "body": body.decode("utf-8", "replace"),
        }, headers=[(b"set-cookie", b"upstream=1"), (b"connection", b"x-upstream-hop"), (b"x-upstream-hop", b"1")])

    return app


def hang_app(release: asyncio.Event) -> Callable[..., Awaitable[None]]:
    """``…/slow`` answers only when ``release`` is set (or after 10 s); anything else at once."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await _read_body(receive)
        if scope["path"].endswith("/slow"):
            try:
                await asyncio.wait_for(release.wait(), 10)
            except TimeoutError:
                pass
        await _answer(send, 200, {"ok": True})

    return app


class Closing:
    """A raw HTTP/1.1 upstream that closes keep-alive connections the ways real servers do.

    Per request (its path's last segment): ``close-after`` answers and then closes the connection
    at once (uvicorn after an unhandled exception's 500); ``close-header`` answers with
    ``Connection: close`` but leaves the socket open (a request sent on it again would never be
    answered); after ``drop-next`` the connection's next request is read and the connection closed
    without a byte of answer; after ``half-next`` the next request gets a partial head, then the
    close. Anything else: 200 ``{"conn", "n", "method", "path", "body"}``. ``seen`` lists every
    request read as ``(connection number, method, path)``, answered or not.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str]] = []
        self._connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> Closing:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        conn, n, then = self._connections, 0, ""
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = next((int(v) for k, _, v in (line.partition(":") for line in lines[1:]) if k.lower() == "content-length"), 0)
                body = await reader.readexactly(length) if length else b""
                n += 1
                self.seen.append((conn, method, path))
                if then == "drop-next":
                    return
                if then == "half-next":
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
                    await writer.drain()
                    return
                then = path.rsplit("/", 1)[-1]
                payload = json.dumps({"conn": conn, "n": n, "method": method, "path": path,
                                      "body": body.decode("utf-8", "replace")}).encode()
                extra = b"connection: close\r\n" if then == "close-header" else b""
                if method == "HEAD":
                    payload = b""
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
                             % (len(payload), extra, payload))
                await writer.drain()
                if then == "close-after":
                    return
                if then == "close-header":
                    await reader.read()  # until the gateway hangs up; anything sent is never answered
                    return
        finally:
            self._writers.discard(writer)
            writer.close()


def crashing_app() -> Callable[..., Awaitable[None]]:
    """``…/boom`` answers 500 and then raises, as Starlette's ServerErrorMiddleware does after an
    unhandled exception (uvicorn then closes the keep-alive connection); anything else 200."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        body = await _read_body(receive)
        if scope["path"].endswith("/boom"):
            await _answer(send, 500, {"code": "internal_error"})
            raise RuntimeError("boom (a test upstream's deliberate failure)")
        await _answer(send, 200, {"method": scope["method"], "body": body.decode("utf-8", "replace")})

    return app


class Served:
    """An ASGI app served by uvicorn in this event loop."""

    def __init__(self, app: Any, port: int, *, lifespan: str = "off") -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Served:
        self.task = asyncio.create_task(self.server.serve())
        for _ in range(400):
            if self.server.started:
                return self
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.025)
        raise TimeoutError(f"server on {self.port} did not start")

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, 15)


@dataclass
class Gateway:
    url: str
    app: Any
    settings: Settings

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, **kwargs)

    async def token(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        async with self.client() as client:
            response = await client.post("/oauth/token", data={"grant_type": "password", "username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


@dataclass
class Stage:
    gateway: Gateway
    strict: Gateway
    echo: Echo
    release: asyncio.Event
    database_url: str
    upstreams: dict[str, str]
    closing: Closing


def _settings(database_url: str, nats_url: str, port: int, upstreams: dict[str, str], **overrides: Any) -> Settings:
    own = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {
        "database_url": database_url, "nats_url": nats_url, "port": port, "mode": "test",
        "upstreams": upstreams, "gateway_url": own, "jwks_url": f"{own}/.well-known/jwks.json",
        "upstream_timeout_seconds": 1.0, "clock_push_timeout_seconds": 2.0, "log_level": "WARNING",
        "openapi_cache_seconds": 0.0,
        # These gateways share the session's NATS with the suite's gateway: they must not take
        # its durable "gateway" consumers' chain events (test_reports.py reads the suite's chain).
        "chain_projection": False,
        # Cheap hashes keep the tests fast; the cost parameters play no part in what is tested.
        "password_hash_time_cost": 1, "password_hash_memory_kib": 1024,
        # Replicas learn of another's deactivations quickly, so tests need not wait 5 s.
        "revocation_refresh_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
async def stage(databases, nats_server) -> AsyncIterator[Stage]:
    database_url = await databases.create("gateway")
    await asyncio.to_thread(upgrade, "gateway", database_url)
    echo, release = Echo(), asyncio.Event()
    echo_server = await Served(echo_app(echo), free_port()).start()
    hang_server = await Served(hang_app(release), free_port()).start()
    crash_server = await Served(crashing_app(), free_port()).start()
    closing = await Closing().start()
    upstreams = {"echo": echo_server.url, "hang": hang_server.url, "down": f"http://127.0.0.1:{free_port()}",
                 "closing": closing.url, "crash": crash_server.url}
    port, strict_port = free_port(), free_port()
    gateway_app = create_app(_settings(database_url, nats_server.url, port, upstreams))
    strict_app = create_app(_settings(
        database_url, nats_server.url, strict_port, upstreams, mode="production",
        rate_limit_per_minute=60, rate_limit_burst=5,
    ))
    gateway_server = await Served(gateway_app, port, lifespan="on").start()
    strict_server = await Served(strict_app, strict_port, lifespan="on").start()
    await ensure_admin(gateway_app.state.sessionmaker, ADMIN_PASSWORD)
    try:
        yield Stage(
            Gateway(gateway_server.url, gateway_app, gateway_app.state.settings),
            Gateway(strict_server.url, strict_app, strict_app.state.settings),
            echo, release, database_url, upstreams, closing,
        )
    finally:
        release.set()
        for server in (gateway_server, strict_server, echo_server, hang_server, crash_server):
            await server.stop()
        await closing.stop()


@pytest.fixture(scope="session")
async def library_gateway(stage: Stage, nats_server) -> AsyncIterator[Gateway]:
    """A third gateway on the same database, forwarding through httpx_aiohttp's transport."""
    port = free_port()
    app = create_app(_settings(stage.database_url, nats_server.url, port, stage.upstreams, proxy_transport="aiohttp"))
    server = await Served(app, port, lifespan="on").start()
    try:
        yield Gateway(server.url, app, app.state.settings)
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def admin_token(stage: Stage) -> str:
    return await stage.gateway.token()


@pytest.fixture
async def api(stage: Stage, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the test-mode gateway signed in as the administrator."""
    async with stage.gateway.client(headers={"Authorization": f"Bearer {admin_token}"}) as client:
        yield client


@pytest.fixture
async def anon(stage: Stage) -> AsyncIterator[httpx.AsyncClient]:
    async with stage.gateway.client() as client:
        yield client


# --- account helpers (deactivation, unlock) ----------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """A password-grant sign-in at ``/oauth/token`` (the raw answer)."""
    return await client.post("/oauth/token", data={"grant_type": "password", "username": username, "password": password})


async def new_user(api: httpx.AsyncClient, roles: list[str], **place: str) -> tuple[str, str]:
    """A fresh staff user created by the administrator's client ``api``: (username, password)."""
    username, password = f"u{uuid.uuid4().hex[:10]}", "user-pass-123"
    created = await api.post("/api/v1/admin/users", json={
        "username": username, "password": password, "display_name": "测试", "roles": roles, **place})
    assert created.status_code == 201, created.text
    return username, password
