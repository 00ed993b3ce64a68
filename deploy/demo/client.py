"""A small client of the gateway's REST API, as an outside system uses it.

Every call goes through the gateway (``/oauth/token``, ``/api/v1/...``) with a bearer token of one
*actor*: a staff user, a donor or a system client (client credentials). An actor logs in on first
use and again when a token expires (401). A 429 ``rate_limited`` answer is retried after its
``Retry-After`` (the limit is per principal, so work spread over many actors goes faster); a 502,
503 or 504, or a dropped connection, is retried a few times with a growing pause. At most
``concurrency`` requests are in flight at once (all actors together).

The progress bar and the phase timer are plain text on stderr (no dependency).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUSES = (502, 503, 504)


class ApiError(RuntimeError):
    """An answer the demo did not expect: method, path, status and the problem document."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        self.method = method
        self.path = path
        self.status = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text[:500]
        self.code = self.body.get("code") if isinstance(self.body, dict) else None
        super().__init__(f"{method} {path} -> {self.status} {self.body}")


@dataclass
class Actor:
    """Who calls: a user (``username``/``password``) or a system client (``client_id``/``secret``)."""

    name: str
    secret: str
    client: bool = False
    roles: tuple[str, ...] = ()
    town: str | None = None
    village: str | None = None
    token: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def form(self) -> dict[str, str]:
        if self.client:
            return {"grant_type": "client_credentials", "client_id": self.name, "client_secret": self.secret}
        return {"grant_type": "password", "username": self.name, "password": self.secret}


class Gateway:
    """The gateway at ``base_url``; ``concurrency`` requests in flight at most."""

    def __init__(self, base_url: str, *, concurrency: int = 16, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8),
            headers={"User-Agent": "quangang-demo/1.0", "X-Client": "quangang-demo"},
        )
        self.slots = asyncio.Semaphore(concurrency)
        self.requests = 0
        self.throttled = 0
        self.retried = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def ready(self) -> bool:
        """True when the gateway answers ``/readyz`` with 200."""
        try:
            response = await self.http.get("/readyz", timeout=3.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def login(self, actor: Actor) -> str:
        """A fresh token for ``actor`` (``POST /oauth/token``)."""
        async with actor._lock:
            for attempt in itertools.count():
                async with self.slots:
                    response = await self.http.post("/oauth/token", data=actor.form)
                if response.status_code == 429 and attempt < 60:
                    self.throttled += 1
                    await asyncio.sleep(_retry_after(response))
                    continue
                if response.status_code != 200:
                    raise RuntimeError(f"login of {actor.name} failed: {response.status_code} {response.text[:300]}")
                actor.token = response.json()["access_token"]
                return actor.token
        raise AssertionError("unreachable")

    async def call(
        self,
        actor: Actor | None,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: Iterable[int] = (200, 201),
        allow: Iterable[int] = (),
    ) -> httpx.Response:
        """One request as ``actor`` (None: anonymous). Answers in ``ok`` or ``allow`` are returned;
        anything else raises :class:`ApiError`. Retries 429, 502–504 and connection errors."""
        expected = set(ok) | set(allow)
        refreshed = False
        transient = 0
        while True:
            request_headers = dict(headers or {})
            if actor is not None:
                if actor.token is None:
                    await self.login(actor)
                request_headers["Authorization"] = f"Bearer {actor.token}"
            try:
                async with self.slots:
                    self.requests += 1
                    response = await self.http.request(
                        method, path, json=json, params=params, content=content, headers=request_headers
                    )
            except httpx.TransportError:
                transient += 1
                if transient > 6:
                    raise
                self.retried += 1
                await asyncio.sleep(0.5 * transient)
                continue
            status = response.status_code
            if status in expected:
                return response
            if status == 429:
                self.throttled += 1
                await asyncio.sleep(_retry_after(response))
                continue
            if status == 401 and actor is not None and not refreshed:
                refreshed = True
                actor.token = None
                continue
            if status in RETRY_STATUSES and transient < 6:
                transient += 1
                self.retried += 1
                # A 504 means the gateway stopped waiting, not that the service stopped working:
                # give it time to finish (an Idempotency-Key then replays its answer).
                await asyncio.sleep((5.0 if status == 504 else 0.5) * transient)
                continue
            raise ApiError(method, path, response)

    async def get(self, actor: Actor | None, path: str, **kwargs: Any) -> Any:
        return (await self.call(actor, "GET", path, **kwargs)).json()

    async def post(self, actor: Actor | None, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = await self.call(actor, "POST", path, json=body, **kwargs)
        return response.json() if response.content else None

    async def put(self, actor: Actor | None, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = await self.call(actor, "PUT", path, json=body, **kwargs)
        return response.json() if response.content else None

    async def pages(self, actor: Actor, path: str, params: dict[str, Any] | None = None, limit: int = 500) -> AsyncIterator[dict]:
        """Every item of a paginated list (``?limit=&cursor=`` → ``{items, next_cursor}``)."""
        query = dict(params or {}, limit=limit)
        while True:
            page = await self.get(actor, path, params=query)
            for item in page["items"]:
                yield item
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    async def all(self, actor: Actor, path: str, params: dict[str, Any] | None = None) -> list[dict]:
        return [item async for item in self.pages(actor, path, params)]


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        seconds = 1.0
    return max(0.05, min(seconds, 10.0)) * random.uniform(0.5, 1.0)


async def eventually(check: Callable[[], Any], *, timeout: float = 120.0, interval: float = 0.25, what: str = "condition") -> Any:
    """Poll the async ``check()`` until it returns something truthy (events reach other services
    asynchronously); raises TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached after {timeout:.0f} s")
        await asyncio.sleep(interval)


class Progress:
    """A progress bar on one stderr line: ``label [#####.....] done/total  elapsed``.

    ``total`` may grow while the phase runs (work scheduled on the way). On a terminal the line is
    redrawn in place; otherwise (a log, a test) only the final line is written.
    """

    WIDTH = 28

    def __init__(self, label: str, total: int = 0, *, stream: Any = None, quiet: bool = False) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._drawn = 0.0

    def restart(self) -> None:
        """Start the elapsed time now (work scheduled ahead of its phase)."""
        self.started = time.monotonic()

    def add(self, n: int = 1) -> None:
        self.total += n

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty and not self.quiet and now - self._drawn > 0.1:
            self._drawn = now
            self._draw(end="\r")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _draw(self, end: str) -> None:
        total = max(self.total, self.done, 1)
        filled = int(self.WIDTH * self.done / total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r  {self.label:<24} [{bar}] {self.done:>6}/{total:<6} {self.elapsed:6.1f} s{end}")
        self.stream.flush()

    def finish(self, note: str = "") -> float:
        if not self.quiet:
            self._draw(end=f"  {note}\n" if note else "\n")
        return self.elapsed
