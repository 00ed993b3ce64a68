"""The catch-all route: ``/api/v1/<service>/…`` forwarded unchanged to that service.

What is forwarded: method, raw path and query (percent-encoding untouched, so ``?name=王秀英``
arrives as sent), the body (streamed), every end-to-end header, plus ``X-Request-ID`` (the
gateway's request id), ``X-Correlation-ID``, ``X-Forwarded-For`` / ``-Proto`` / ``-Host``.
Hop-by-hop headers (RFC 9110 §7.6.1: Connection and every header it names, Keep-Alive,
Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade) are dropped both
ways. A bearer token, when present, is verified here first (401 problem if invalid, ``token_revoked`` if
its account was deactivated since: gateway.auth.revocation) and forwarded;
requests without one are forwarded too (a service decides: the public wish board needs no login).

Responses come back raw (never decompressed), so ``Content-Encoding`` and ``Content-Length`` stay
truthful. A response that has fully arrived by the time its head is parsed (most API answers)
goes out as one head and one body; anything else is streamed as it arrives, and the upstream
connection is dropped if streaming fails or the caller goes away mid-way.

The forwarding is pure ASGI (:class:`ProxyFastPath` and :meth:`Forwarder.serve`): no Starlette
request or response objects, and with the default transport ``h1`` (:class:`gateway.transport.H1Pool`)
no httpx or aiohttp objects either — the request head is built as bytes from the ASGI scope and
written in one go. The other transports (``aiohttp-lean``, ``aiohttp``, ``httpx``, for comparison
in ``tests/bench/bench_gateway.py``) go through httpx.

Errors (problem+json): unknown service 404 ``unknown_service``; no answer within
``upstream_timeout_seconds`` 504 ``upstream_timeout``; connection refused/reset 502
``upstream_unavailable``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import anyio
import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ratelimit import bearer_from_headers, rate_key_for, take_or_refuse
from gateway.transport import H1Connection, UpstreamTimeout, UpstreamUnavailable, fast_url, upstream_target
from gateway.upstreams import Upstream, is_timeout
from shared.errors import Problem
from shared.http import send_problem

log = structlog.get_logger("gateway.proxy")

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
     b"transfer-encoding", b"upgrade", b"proxy-connection"}
)
# Set by the gateway itself (or by the HTTP client for the upstream connection); Expect was
# answered by the gateway's own server, which has the body already.
_REQUEST_DROP = HOP_BY_HOP | {
    b"host", b"x-request-id", b"x-correlation-id", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
    b"expect",
}
# The gateway's server adds its own date/server and x-request-id; duplicates would confuse clients.
_RESPONSE_DROP = HOP_BY_HOP | {b"date", b"server", b"x-request-id"}
_RESPONSE_DROP_WITH_LENGTH = _RESPONSE_DROP | {b"content-length"}
# RFC 9110 §9.2.2: methods whose repetition has the effect of one request. A request is retried
# (once, on a new connection) only with one of them or with an Idempotency-Key the service
# replays, and only when the reused keep-alive connection failed before any byte of an answer
# arrived — the rule of Go's net/http and urllib3. A POST without a key is never sent twice: the
# upstream may have acted on it before closing.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
BUFFER_LIMIT = 64 * 1024
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_NO_BODY_STATUS = frozenset({204, 304})


class ProxyMetrics:
    """Upstream latency (to response headers) and outcomes, per service."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "gateway_upstream_duration_seconds", "Time until an upstream's response headers", ["service"],
            registry=registry, buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.responses = Counter(
            "gateway_upstream_responses_total", "Upstream outcomes: HTTP status, timeout or unavailable",
            ["service", "status"], registry=registry,
        )
        # labels() validates and locks on every call: the children are looked up once.
        self._latency: dict[str, Any] = {}
        self._responses: dict[tuple[str, Any], Any] = {}

    def observe(self, service: str, seconds: float, outcome: int | str) -> None:
        latency = self._latency.get(service)
        if latency is None:
            latency = self._latency[service] = self.latency.labels(service)
        latency.observe(seconds)
        self.count(service, outcome)

    def count(self, service: str, outcome: int | str) -> None:
        key = (service, outcome)
        counter = self._responses.get(key)
        if counter is None:
            counter = self._responses[key] = self.responses.labels(service, str(outcome))
        counter.inc()


def _connection_listed(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Header names (lower-case bytes) that ``Connection`` declares hop-by-hop (``Connection: X-Custom``)."""
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(listed)


def _has_idempotency_key(scope: Scope) -> bool:
    """Whether the request carries an ``Idempotency-Key`` (the services replay a repeated one)."""
    return any(key == b"idempotency-key" for key, _ in scope["headers"])


def _target(scope: Scope) -> bytes:
    """The request target as received (raw path and query)."""
    target = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string")
    return target + b"?" + query if query else target


def request_headers(scope: Scope) -> tuple[list[tuple[bytes, bytes]], bool, bool]:
    """The headers to send upstream (see module docstring) as raw byte pairs; whether the request
    has a body (Content-Length > 0 or Transfer-Encoding); whether it declared its length."""
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    out: list[tuple[bytes, bytes]] = []
    host = None
    has_body = has_length = connection = False
    # Header names arrive lower-cased from the ASGI server.
    for key, value in raw:
        if key in _REQUEST_DROP:
            if key == b"host":
                host = value
            elif key == b"transfer-encoding":
                has_body = True
            elif key == b"connection":
                connection = True
            continue
        if key == b"content-length":
            has_length = True
            has_body = has_body or value.strip() not in (b"", b"0")
        out.append((key, value))
    if connection:
        listed = _connection_listed(raw)
        out = [(k, v) for k, v in out if k not in listed]
    state = scope["state"]
    out.append((b"x-request-id", state["request_id"].encode()))
    out.append((b"x-correlation-id", state["correlation_id"].encode()))
    # We are the edge: a caller's own X-Forwarded-For is not trustworthy, so it is replaced
    # (uvicorn's --proxy-headers already resolved a trusted load balancer into the client).
    client = scope.get("client")
    if client:
        out.append((b"x-forwarded-for", client[0].encode()))
    out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
    if host is not None:
        out.append((b"x-forwarded-host", host))
    return out, has_body, has_length


def response_headers(response: httpx.Response, *, keep_length: bool) -> list[tuple[bytes, bytes]]:
    """An httpx response's headers to relay: hop-by-hop, date, server and x-request-id dropped."""
    return relay_headers(response.headers.raw, keep_length=keep_length)


def relay_headers(raw: list[tuple[bytes, bytes]], *, keep_length: bool = True) -> list[tuple[bytes, bytes]]:
    """Upstream response headers to relay (names in any case): hop-by-hop, date, server and
    x-request-id dropped, and content-length unless ``keep_length``."""
    drop = _RESPONSE_DROP if keep_length else _RESPONSE_DROP_WITH_LENGTH
    out = [(k, v) for k, v in raw if k.lower() not in drop]
    if len(out) != len(raw) and any(k.lower() == b"connection" for k, _ in raw):
        listed = _connection_listed(raw)
        out = [(k, v) for k, v in out if k.lower() not in listed]
    return out


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as the ASGI server delivers it (a disconnect ends it early)."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class ClientGone(Exception):
    """The caller disconnected before its request body was read."""


class Forwarder:
    """Forwards requests to the upstreams (``app.state.forwarder``)."""

    def __init__(self, upstreams: dict[str, Upstream], metrics: ProxyMetrics) -> None:
        self.upstreams = upstreams
        self.metrics = metrics

    async def serve(self, scope: Scope, receive: Receive, send: Send, upstream: Upstream) -> None:
        """Answer the request of ``scope`` with ``upstream``'s answer (rate limit and token
        checked first); failures before the answer started are problem+json."""
        try:
            app_state = scope["app"].state
            verifier = app_state.token_verifier
            take_or_refuse(app_state.rate_limiter, await rate_key_for(scope, verifier))
            state = scope["state"]
            if state.get("principal") is None:
                token = bearer_from_headers(scope["headers"])
                if token is not None:  # present but invalid (the rate limit found no principal): 401
                    state["principal"] = await verifier.verify(token)
            if upstream.pool is not None:
                await self._relay_h1(scope, receive, send, upstream)
            else:
                await self._relay_httpx(scope, receive, send, upstream)
        except Problem as problem:
            await send_problem(scope, send, problem)
        except ClientGone:
            return

    # -- the h1 transport -------------------------------------------------------------------

    async def _relay_h1(self, scope: Scope, receive: Receive, send: Send, upstream: Upstream) -> None:
        pool = upstream.pool
        assert pool is not None
        method: str = scope["method"]
        headers, has_body, has_length = request_headers(scope)
        parts = [method.encode("ascii"), b" ", upstream_target(_target(scope)), b" HTTP/1.1\r\nhost: ", pool.host_header, b"\r\n"]
        for key, value in headers:
            parts += (key, b": ", value, b"\r\n")
        first = b""
        more = False
        if has_body:
            # The body guard has usually read the whole body already: one message.
            message = await receive()
            if message["type"] != "http.request":
                raise ClientGone
            first = message.get("body", b"")
            more = message.get("more_body", False)
            if not has_length:
                # Re-framed for this hop: its own length, or chunked while it keeps coming.
                parts.append(b"transfer-encoding: chunked\r\n" if more else b"content-length: %d\r\n" % len(first))
        parts.append(b"\r\n")
        head = b"".join(parts)
        chunked = has_body and not has_length and more
        timeout = upstream.read_timeout
        started = time.perf_counter()
        # A body can be sent again only if the whole of it is in hand (not streamed).
        retry = (method in _IDEMPOTENT or _has_idempotency_key(scope)) and not more
        fresh = False
        while True:
            try:
                conn = await pool.acquire(fresh=fresh)
            except (UpstreamTimeout, UpstreamUnavailable) as exc:
                self._failed(upstream, exc, time.perf_counter() - started)
            conn.begin(head_only=method == "HEAD")
            try:
                if chunked:
                    conn.write(head + (b"%x\r\n%s\r\n" % (len(first), first) if first else b""))
                    await self._stream_body(conn, receive, chunked=True, timeout=upstream.timeout.get("write"))
                elif more:
                    conn.write(head + first)
                    await self._stream_body(conn, receive, chunked=False, timeout=upstream.timeout.get("write"))
                else:
                    conn.write(head + first)
                await conn.head(timeout)
                break
            except (UpstreamTimeout, UpstreamUnavailable) as exc:
                conn.abort()
                # A pooled keep-alive connection the upstream has meanwhile closed (after a 500,
                # on restart) fails on write or before anything was answered: a request that may
                # be repeated (see _IDEMPOTENT) is retried once, on a new connection.
                if retry and conn.reused and not conn.received and isinstance(exc, UpstreamUnavailable):
                    retry = False
                    fresh = True
                    log.info("gateway.upstream.retried", service=upstream.name, method=method)
                    continue
                self._failed(upstream, exc, time.perf_counter() - started)
            except BaseException:
                conn.abort()
                raise
        self.metrics.observe(upstream.name, time.perf_counter() - started, conn.status)
        status = conn.status
        out_headers = relay_headers(conn.headers)
        if conn.complete:
            body = b"" if method == "HEAD" or status in _NO_BODY_STATUS else conn.take()
            pool.release(conn)
            await send({"type": "http.response.start", "status": status, "headers": out_headers})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await send({"type": "http.response.start", "status": status, "headers": out_headers})
            while True:
                if conn.chunks:
                    await send({"type": "http.response.body", "body": conn.take(), "more_body": True})
                elif conn.complete:
                    break
                else:
                    await conn.wait(timeout)
                    if conn.error is not None:
                        log.warning("gateway.upstream.stream_broken", service=upstream.name,
                                    error=type(conn.error).__name__)
                        raise conn.error
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except BaseException:
            conn.abort()
            raise
        pool.release(conn)

    @staticmethod
    async def _stream_body(conn: H1Connection, receive: Receive, *, chunked: bool, timeout: float | None) -> None:
        """The rest of a request body, written to the upstream as it arrives."""
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientGone
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if chunked:
                conn.write((b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunk else b"") + (b"" if more else b"0\r\n\r\n"))
            elif chunk:
                conn.write(chunk)
            await conn.drain(timeout)

    # -- the httpx transports (compared in the benchmark) -------------------------------------

    async def _relay_httpx(self, scope: Scope, receive: Receive, send: Send, upstream: Upstream) -> None:
        method: str = scope["method"]
        headers, has_body, _ = request_headers(scope)
        outgoing = httpx.Request(
            method, fast_url(upstream.url, _target(scope)), headers=headers,
            content=_request_body(receive) if has_body else None, extensions={"timeout": upstream.timeout},
        )
        started = time.perf_counter()
        # A pooled keep-alive connection the upstream has meanwhile closed (it restarted) fails
        # before anything was answered; an idempotent request without a body is retried once.
        # (The body is streamed from the caller here, so one that has a body is sent only once.)
        attempts = 2 if (method in _IDEMPOTENT or _has_idempotency_key(scope)) and not has_body else 1
        for attempt in range(attempts):
            try:
                response = await upstream.transport.handle_async_request(outgoing)
                break
            except httpx.TransportError as exc:
                if attempt + 1 == attempts or is_timeout(exc):
                    self._failed(upstream, exc, time.perf_counter() - started)
        self.metrics.observe(upstream.name, time.perf_counter() - started, response.status_code)
        # A scan of the raw pairs: httpx's Headers.get re-normalises every header per lookup.
        length = next((v for k, v in response.headers.raw if k.lower() == b"content-length"), None)
        try:
            if method == "HEAD" or (length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT):
                try:
                    body = b"".join([chunk async for chunk in response.aiter_raw()])
                except httpx.TransportError as exc:
                    self._failed(upstream, exc, time.perf_counter() - started)
                if method == "HEAD":
                    headers, body = response_headers(response, keep_length=True), b""
                else:  # the length of the body actually read
                    headers = [*response_headers(response, keep_length=False), (b"content-length", b"%d" % len(body))]
                await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": response_headers(response, keep_length=True)})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            # However the relay ends (done, failed, the caller gone, cancelled): the connection
            # goes back to the pool or is closed.
            with anyio.CancelScope(shield=True):
                await response.aclose()

    def _failed(self, upstream: Upstream, exc: Exception, elapsed: float) -> NoReturn:
        timeout = isinstance(exc, UpstreamTimeout) or (isinstance(exc, httpx.TransportError) and is_timeout(exc))
        if timeout:
            self.metrics.count(upstream.name, "timeout")
            log.warning("gateway.upstream.timeout", service=upstream.name, seconds=round(elapsed, 3))
            raise Problem(504, "upstream_timeout", f"The {upstream.name} service did not answer in time") from None
        self.metrics.count(upstream.name, "unavailable")
        log.warning("gateway.upstream.unavailable", service=upstream.name, error=type(exc).__name__)
        raise Problem(502, "upstream_unavailable", f"The {upstream.name} service cannot be reached") from None


class _Forwarded:
    """The catch-all route's answer: the upstream's, relayed on the raw ASGI interface."""

    def __init__(self, forwarder: Forwarder, upstream: Upstream) -> None:
        self.forwarder = forwarder
        self.upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.forwarder.serve(scope, receive, send, self.upstream)


async def proxy_endpoint(request: Request) -> _Forwarded:
    """Starlette endpoint of ``/api/v1/{service}`` and ``/api/v1/{service}/{path:path}``: the
    catch-all after every route of the gateway's own (an unknown service ends here: 404)."""
    service = request.path_params["service"]
    forwarder: Forwarder = request.app.state.forwarder
    upstream = forwarder.upstreams.get(service)
    if upstream is None:
        raise Problem(404, "unknown_service", f"There is no service {service!r} behind this gateway")
    return _Forwarded(forwarder, upstream)


class _ProxyRoute:
    """What the metrics middleware reads as the route template of a proxied request."""

    path = "/api/v1/{service}/{path:path}"


class ProxyFastPath:
    """ASGI middleware, innermost (after the body guard): a request under ``/api/v1/<name>/``
    for a configured upstream ``<name>`` is forwarded without going through the router.

    The catch-all route gives the same answer; this only skips matching the request against
    every route of the gateway's own first, which none of them could match (upstream names never
    collide with the gateway's own prefixes: see Settings) — FastAPI's route matching was a
    sizeable share of the gateway's CPU per proxied request. Problems are answered here as
    problem+json, as the app's handlers would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/v1/"):
                forwarder: Forwarder = scope["app"].state.forwarder
                upstream = forwarder.upstreams.get(path[8:].split("/", 1)[0])
                if upstream is not None:
                    scope["route"] = _ProxyRoute
                    await forwarder.serve(scope, receive, send, upstream)
                    return
        await self.app(scope, receive, send)
