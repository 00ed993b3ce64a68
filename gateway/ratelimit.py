"""Per-client rate limit: a token bucket per principal (token ``sub``) or, anonymous, per client IP.

A bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second; each
request takes one. An empty bucket answers 429 problem+json ``rate_limited`` with ``Retry-After``
(whole seconds until a token is back). Buckets live in this process: with N gateway replicas a
client gets up to N times the rate, which is the price of needing no shared store.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

import structlog
from starlette.requests import Request

from shared.auth import Principal
from shared.errors import Problem


class TokenBucketLimiter:
    """Token buckets keyed by caller; memory bounded by forgetting idle (full) buckets."""

    def __init__(self, per_minute: int, burst: int, *, max_keys: int = 100_000) -> None:
        if per_minute <= 0 or burst <= 0:
            raise ValueError("per_minute and burst must be positive")
        self.rate = per_minute / 60.0  # tokens per second
        self.burst = float(burst)
        self.max_keys = max_keys
        # key -> (tokens, monotonic time of the last update); least recently used first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float | None:
        """Take a token for ``key``: None when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            self._evict(now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        # A bucket idle long enough to be full again is indistinguishable from a new one.
        refill_time = self.burst / self.rate
        while len(self._buckets) > self.max_keys:
            key, (_, last) = next(iter(self._buckets.items()))
            if now - last < refill_time and len(self._buckets) <= 2 * self.max_keys:
                return
            del self._buckets[key]


def bearer_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The bearer token among raw ASGI headers (as shared.auth.bearer_token, without building a
    Headers object on the proxy's hot path)."""
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


async def rate_key(request: Request) -> str:
    """The bucket of this request: ``user:<sub>`` / ``client:<sub>`` for a valid bearer token (the principal is
    cached on ``request.state`` for the route), else ``ip:<client address>``. An invalid token
    counts against the IP; the route itself then refuses it."""
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:
        token = bearer_from_headers(request.scope["headers"])
        if token is not None:
            try:
                principal = await request.app.state.token_verifier.verify(token)
                request.state.principal = principal
                structlog.contextvars.bind_contextvars(principal=principal.subject)
            except Problem:
                principal = None
    if principal is not None:
        return f"{'client' if principal.client else 'user'}:{principal.subject}"
    return f"ip:{request.client.host if request.client else 'unknown'}"


async def enforce_rate_limit(request: Request) -> None:
    """FastAPI dependency (and direct call in the proxy): 429 ``rate_limited`` when over the limit."""
    limiter: TokenBucketLimiter = request.app.state.rate_limiter
    wait = limiter.take(await rate_key(request))
    if wait is not None:
        retry_after = max(1, math.ceil(wait))
        raise Problem(
            429, "rate_limited", "Too many requests; retry later",
            headers={"Retry-After": str(retry_after)}, retry_after=retry_after,
        )
