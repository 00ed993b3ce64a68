"""Per-client rate limit: a token bucket per principal (token ``sub``) or, anonymous, per client IP;
and a limit on failed password sign-ins per username (:class:`LoginFailures`).

A bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second; each
request takes one. An empty bucket answers 429 problem+json ``rate_limited`` with ``Retry-After``
(whole seconds until a token is back). Buckets live in this process: with N gateway replicas a
client gets up to N times the rate, which is the price of needing no shared store.

The sign-in endpoints (``/oauth/token``, ``/oauth/register``) are keyed by the client IP only
(:func:`enforce_ip_rate_limit`): a bearer token sent along must not buy a caller a bucket of its
own for guessing passwords.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

import structlog
from starlette.requests import Request
from starlette.types import Scope

from shared.auth import Principal, TokenVerifier, bearer_from_headers
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


async def rate_key_for(scope: Scope, verifier: TokenVerifier) -> str:
    """The bucket of the request of ``scope`` (see :func:`rate_key`); a valid token's principal is
    left in ``scope["state"]["principal"]`` (what ``request.state.principal`` reads)."""
    state = scope.setdefault("state", {})
    principal: Principal | None = state.get("principal")
    if principal is None:
        token = bearer_from_headers(scope["headers"])
        if token is not None:
            try:
                principal = await verifier.verify(token)
                state["principal"] = principal
                structlog.contextvars.bind_contextvars(principal=principal.subject)
            except Problem:
                principal = None
    if principal is not None:
        return f"{'client' if principal.client else 'user'}:{principal.subject}"
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


def take_or_refuse(limiter: TokenBucketLimiter, key: str) -> None:
    """Take a token of bucket ``key``: 429 ``rate_limited`` with ``Retry-After`` when it is empty."""
    wait = limiter.take(key)
    if wait is not None:
        retry_after = max(1, math.ceil(wait))
        raise Problem(
            429, "rate_limited", "Too many requests; retry later",
            headers={"Retry-After": str(retry_after)}, retry_after=retry_after,
        )


async def rate_key(request: Request) -> str:
    """The bucket of this request: ``user:<sub>`` / ``client:<sub>`` for a valid bearer token (the principal is
    cached on ``request.state`` for the route), else ``ip:<client address>``. An invalid token
    counts against the IP; the route itself then refuses it."""
    return await rate_key_for(request.scope, request.app.state.token_verifier)


async def enforce_rate_limit(request: Request) -> None:
    """FastAPI dependency: 429 ``rate_limited`` when over the limit (the proxy calls
    :func:`rate_key_for` and :func:`take_or_refuse` on the raw ASGI scope instead)."""
    take_or_refuse(request.app.state.rate_limiter, await rate_key(request))


def ip_key(scope: Scope) -> str:
    """The anonymous bucket of the request's client address."""
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


async def enforce_ip_rate_limit(request: Request) -> None:
    """FastAPI dependency of the sign-in endpoints: the client IP's bucket, whatever
    ``Authorization`` says (no token is verified). 429 ``rate_limited``."""
    take_or_refuse(request.app.state.rate_limiter, ip_key(request.scope))


class LoginFailures:
    """Failed password sign-ins per username, over a sliding window, independent of the IP.

    After ``limit`` failures within ``window_seconds`` the username is refused (before its
    password is even checked) until the oldest of them is ``window_seconds`` old: guessing one
    account from many addresses is slowed to ``limit`` guesses a window, while guessing many
    accounts from one address meets that address's rate limit. A successful sign-in clears the
    username's failures. Usernames are compared ignoring case, as at sign-in.

    An administrator lifts a lock by unlocking the user (``POST /api/v1/admin/users/{username}:unlock``):
    the replica that serves it forgets the failures at once (:meth:`forget`), and the user row's
    ``unlocked_at`` tells every other replica to forget those counted before it, the next time it
    would refuse the username (:meth:`apply_unlock`).

    Counted in this process's memory: with N gateway replicas behind a balancer an account gets up
    to N × ``limit`` guesses a window. Memory is bounded by ``max_keys`` usernames; beyond that
    the least recently failed are forgotten (filling it takes ``max_keys`` requests, which the IP
    limit spreads over a long time).

    ``clock`` (seconds, monotonic by default: a wall-clock step must not lengthen or shorten a
    lock) times the failures; ``wall`` (epoch seconds) is only for converting to and from the
    wall-clock times that are stored or shown (``unlocked_at``, ``locked_until``). Tests inject both.
    """

    def __init__(
        self, limit: int, window_seconds: float, *, max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
    ) -> None:
        if limit <= 0 or window_seconds <= 0:
            raise ValueError("limit and window_seconds must be positive")
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self.clock = clock
        self.wall = wall
        # username (lower case) -> ``clock`` times of its recent failures; least recently failed first.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def _key(username: str) -> str:
        return username[:64].lower()  # no longer name exists (schemas._USERNAME)

    def blocked_for(self, username: str, now: float | None = None) -> float | None:
        """Seconds until ``username`` may try again, or None when it may now."""
        times = self._failures.get(self._key(username))
        if times is None or len(times) < self.limit:
            return None
        now = self.clock() if now is None else now
        wait = times[0] + self.window - now
        return wait if wait > 0 else None

    def failed(self, username: str, now: float | None = None) -> None:
        """Count a failed sign-in of ``username``."""
        now = self.clock() if now is None else now
        key = self._key(username)
        times = self._failures.pop(key, None) or deque(maxlen=self.limit)
        while times and times[0] <= now - self.window:
            times.popleft()
        times.append(now)
        self._failures[key] = times
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, username: str) -> None:
        """A successful sign-in: forget the username's failures."""
        self._failures.pop(self._key(username), None)

    def failures(self, username: str, now: float | None = None) -> int:
        """How many failures of ``username`` this process counts within the window (at most ``limit``)."""
        now = self.clock() if now is None else now
        return sum(1 for t in self._failures.get(self._key(username), ()) if t > now - self.window)

    def forget(self, username: str, *, until: float | None = None) -> int:
        """Forget the failures of ``username`` counted at or before ``until`` (``clock`` seconds;
        all of them when None). Returns how many were forgotten."""
        key = self._key(username)
        times = self._failures.get(key)
        if not times:
            return 0
        if until is None:
            del self._failures[key]
            return len(times)
        forgotten = 0
        while times and times[0] <= until:
            times.popleft()
            forgotten += 1
        if not times:
            del self._failures[key]
        return forgotten

    def apply_unlock(self, username: str, unlocked_at: float | None) -> int:
        """Forget the failures of ``username`` from before an administrator's unlock at
        ``unlocked_at`` (wall-clock epoch seconds, from the user row; None: never unlocked).

        An unlock made on another replica reaches this one this way; failures after the unlock
        still count. The replicas' wall clocks are assumed to agree within a second or two: a
        failure that close to the unlock may be counted or forgotten either way."""
        if unlocked_at is None:
            return 0
        return self.forget(username, until=self.clock() - (self.wall() - unlocked_at))

    def locked_until(self, username: str) -> float | None:
        """Wall-clock epoch seconds at which this process lets ``username`` try again, or None
        when it is not locked."""
        wait = self.blocked_for(username)
        return None if wait is None else self.wall() + wait
