"""Per-client rate limit: token buckets per principal or IP; 429 problem with Retry-After."""

from __future__ import annotations

from gateway.ratelimit import TokenBucketLimiter
from tests.gateway.conftest import Stage


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
