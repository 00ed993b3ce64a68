"""Per-client rate limit: token buckets per principal or IP; 429 problem with Retry-After; sign-in
limited per IP (whatever bearer token comes along) and per username."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from deploy.embedded import free_port
from gateway.app import create_app
from gateway.ratelimit import LoginFailures, TokenBucketLimiter
from tests.gateway.conftest import ADMIN_PASSWORD, Gateway, Served, Stage, _settings


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    limiter = TokenBucketLimiter(per_minute=60, burst=3)  # one token a second
    assert [limiter.take("a", now=100.0) for _ in range(3)] == [None, None, None]
    wait = limiter.take("a", now=100.0)
    assert wait is not None and 0.99 < wait <= 1.0
    assert limiter.take("b", now=100.0) is None  # another caller has its own bucket
    assert limiter.take("a", now=101.0) is None
    assert limiter.take("a", now=101.0) is not None


def test_idle_buckets_are_forgotten() -> None:
    limiter = TokenBucketLimiter(per_minute=60, burst=2, max_keys=10)
    for i in range(50):
        limiter.take(f"k{i}", now=float(i * 10))  # each bucket is full again 2 s later
    assert len(limiter._buckets) <= 10


async def test_429_with_retry_after_when_the_limit_is_exceeded(stage: Stage, admin_token: str) -> None:
    # The production-mode gateway allows a burst of 5, then one request a second.
    async with stage.strict.client() as client:
        statuses = [(await client.get("/.well-known/jwks.json")).status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
        limited = await client.get("/api/v1/echo/x")
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # A signed-in caller has a bucket of its own, not the anonymous IP's.
        signed = await client.get("/api/v1/echo/x", headers={"Authorization": f"Bearer {admin_token}"})
        assert signed.status_code == 200, signed.text


# --- sign-in: per IP (never by a bearer token) and per username --------------------------------

def test_failures_block_a_username_for_the_rest_of_the_window() -> None:
    failures = LoginFailures(limit=3, window_seconds=900)
    for t in (0.0, 10.0, 20.0):
        assert failures.blocked_for("Alice", now=t) is None
        failures.failed("Alice", now=t)
    assert failures.blocked_for("alice", now=20.0) == 880.0  # any case; until the first is 900 s old
    assert failures.blocked_for("bob", now=20.0) is None
    assert failures.blocked_for("ALICE", now=899.0) == 1.0
    assert failures.blocked_for("alice", now=900.0) is None  # the oldest left the window
    failures.failed("alice", now=900.0)
    assert failures.blocked_for("alice", now=901.0) == 9.0  # 10.0 is now the oldest of three


def test_a_success_clears_the_failures_and_memory_is_bounded() -> None:
    failures = LoginFailures(limit=2, window_seconds=60, max_keys=5)
    failures.failed("carol", now=0.0)
    failures.succeeded("CAROL")
    failures.failed("carol", now=1.0)
    assert failures.blocked_for("carol", now=1.0) is None
    for i in range(20):
        failures.failed(f"guess{i}", now=2.0)
    assert len(failures._failures) == 5


@pytest.fixture(scope="module")
async def tight(stage: Stage, nats_server) -> AsyncIterator[Gateway]:
    """A gateway on the suite's database with a small IP bucket (burst 6) and 3 failures per username."""
    port = free_port()
    app = create_app(_settings(stage.database_url, nats_server.url, port, stage.upstreams, mode="production",
                               rate_limit_per_minute=6, rate_limit_burst=6, login_failure_limit=3))
    server = await Served(app, port, lifespan="on").start()
    try:
        yield Gateway(server.url, app, app.state.settings)
    finally:
        await server.stop()


def from_ip(ip: str, **headers: str) -> dict[str, str]:
    # The test servers trust X-Forwarded-For from 127.0.0.1 (uvicorn's proxy headers), as a
    # gateway behind a load balancer does.
    return {"X-Forwarded-For": ip, **headers}


async def password(client: httpx.AsyncClient, username: str, secret: str, ip: str, **headers: str) -> httpx.Response:
    return await client.post("/oauth/token", data={"grant_type": "password", "username": username, "password": secret},
                             headers=from_ip(ip, **headers))


async def test_a_bearer_token_does_not_buy_sign_in_attempts(tight: Gateway, admin_token: str) -> None:
    async with tight.client() as client:
        assert [(await password(client, "admin", f"wrong-{i}", f"10.1.0.{i}")).status_code for i in range(2)] == [400, 400]
        statuses = [(await password(client, f"nobody{i}", "wrong-pass", "10.2.0.1")).status_code for i in range(6)]
        assert statuses == [400] * 6
        # The address's bucket is empty: a valid bearer token sent along changes nothing.
        with_token = await password(client, "nobody9", "wrong-pass", "10.2.0.1", Authorization=f"Bearer {admin_token}")
        assert with_token.status_code == 429 and with_token.headers["content-type"] == "application/problem+json"
        assert with_token.json()["code"] == "rate_limited"
        register = await client.post("/oauth/register", json={"username": "someone9", "password": "x"},
                                     headers=from_ip("10.2.0.1", Authorization=f"Bearer {admin_token}"))
        assert register.status_code == 429
        # The token's own bucket (its API calls) was left alone; another address still signs in.
        assert (await client.get("/api/v1/echo/x", headers={"Authorization": f"Bearer {admin_token}"})).status_code == 200
        assert (await password(client, "admin", ADMIN_PASSWORD, "10.3.0.1")).status_code == 200


async def test_guessing_one_account_from_many_addresses_is_slowed(tight: Gateway, stage: Stage, api) -> None:
    username, secret = f"g{uuid.uuid4().hex[:10]}", "right-pass-1"
    created = await api.post("/api/v1/admin/users", json={"username": username, "password": secret, "display_name": "x",
                                                          "roles": ["auditor"]})
    assert created.status_code == 201
    async with tight.client() as client:
        # Two failures, then a success: the failures are forgotten.
        assert [(await password(client, username, "wrong", f"10.4.0.{i}")).status_code for i in range(2)] == [400, 400]
        assert (await password(client, username, secret, "10.4.1.1")).status_code == 200
        # Three failures from three addresses: the fourth attempt is refused even with the right password.
        assert [(await password(client, username.upper(), "wrong", f"10.5.0.{i}")).status_code for i in range(3)] == [400] * 3
        blocked = await password(client, username, secret, "10.5.1.1")
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "invalid_grant" and blocked.headers["cache-control"] == "no-store"
        assert 899 <= int(blocked.headers["retry-after"]) <= 900
        # Only this username, only on this replica (each counts its own).
        assert (await password(client, "admin", "wrong", "10.5.1.2")).json()["error"] == "invalid_grant"
        assert (await password(client, "admin", "wrong", "10.5.1.2")).status_code == 400
    async with stage.gateway.client() as other:
        assert (await password(other, username, secret, "10.5.1.3")).status_code == 200
