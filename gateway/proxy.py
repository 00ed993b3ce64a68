"""The catch-all route: ``/api/v1/<service>/…`` forwarded unchanged to that service.

What is forwarded: method, raw path and query (percent-encoding untouched, so ``?name=王秀英``
arrives as sent), the body (streamed), every end-to-end header, plus ``X-Request-ID`` (the
gateway's request id), ``X-Correlation-ID``, ``X-Forwarded-For`` / ``-Proto`` / ``-Host``.
Hop-by-hop headers (RFC 9110 §7.6.1: Connection and every header it names, Keep-Alive,
Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade) are dropped both
ways. A bearer token, when present, is verified here first (401 problem if invalid) and forwarded;
requests without one are forwarded too (a service decides: the public wish board needs no login).

Responses come back raw (never decompressed), so ``Content-Encoding`` and ``Content-Length`` stay
truthful. A body of known length up to :data:`BUFFER_LIMIT` is read whole (most API answers:
no streaming machinery per request); anything else is streamed, and the upstream response is
closed when the stream ends, fails, or the caller goes away.

Errors (problem+json): unknown service 404 ``unknown_service``; no answer within
``upstream_timeout_seconds`` 504 ``upstream_timeout``; connection refused/reset 502
``upstream_unavailable``.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn

import anyio
import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ratelimit import bearer_from_headers, enforce_rate_limit
from gateway.transport import fast_url
from gateway.upstreams import Upstream, is_timeout
from shared.errors import Problem, problem_response

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
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
BUFFER_LIMIT = 64 * 1024
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


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


def _connection_listed(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Header names (lower-case bytes) that ``Connection`` declares hop-by-hop (``Connection: X-Custom``)."""
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(listed)


def request_headers(request: Request) -> tuple[list[tuple[bytes, bytes]], bool]:
    """The headers to send upstream (see module docstring) as raw byte pairs, and whether the
    request has a body (Content-Length > 0 or Transfer-Encoding)."""
    scope = request.scope
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    # Header names arrive lower-cased from the ASGI server.
    listed = _connection_listed(raw) if any(k == b"connection" for k, _ in raw) else frozenset()
    out: list[tuple[bytes, bytes]] = []
    host = None
    has_body = False
    for key, value in raw:
        if key == b"host":
            host = value
        elif key == b"content-length":
            has_body = has_body or value.strip() not in (b"", b"0")
        elif key == b"transfer-encoding":
            has_body = True
        if key in _REQUEST_DROP or key in listed:
            continue
        out.append((key, value))
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
    return out, has_body


def response_headers(response: httpx.Response, *, keep_length: bool) -> list[tuple[bytes, bytes]]:
    raw = response.headers.raw
    listed = _connection_listed(raw)
    drop = _RESPONSE_DROP if keep_length else _RESPONSE_DROP_WITH_LENGTH
    return [(k, v) for k, v in raw if (key := k.lower()) not in drop and key not in listed]


class UpstreamStream(StreamingResponse):
    """Streams an upstream body; the upstream response is closed however streaming ends.

    The BackgroundTask closes it after a normal end or a caller disconnect (Starlette runs it
    then); the ``finally`` covers the paths where Starlette does not (a send failing, ASGI 2.4
    disconnects, cancellation) — closing twice is harmless.
    """

    def __init__(self, upstream: httpx.Response, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose))
        self.raw_headers = headers
        self._upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._upstream.aclose()


class Forwarder:
    """Forwards requests to the upstreams (``app.state.forwarder``)."""

    def __init__(self, upstreams: dict[str, Upstream], metrics: ProxyMetrics) -> None:
        self.upstreams = upstreams
        self.metrics = metrics
        self._latency: dict[str, Any] = {}  # service -> its histogram child (labels() is not free)

    def _url(self, upstream: Upstream, request: Request) -> httpx.URL:
        scope = request.scope
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        return fast_url(upstream.url, target)

    async def _send(self, upstream: Upstream, request: Request) -> httpx.Response:
        headers, has_body = request_headers(request)
        outgoing = httpx.Request(
            request.method,
            self._url(upstream, request),
            headers=headers,
            content=request.stream() if has_body else None,
            extensions={"timeout": upstream.timeout},
        )
        # A pooled keep-alive connection the upstream has meanwhile closed (it restarted) fails
        # before anything was answered; an idempotent request without a body is retried once.
        attempts = 2 if request.method in _IDEMPOTENT and not has_body else 1
        for attempt in range(attempts):
            try:
                return await upstream.transport.handle_async_request(outgoing)
            except httpx.TransportError as exc:
                if attempt + 1 == attempts or is_timeout(exc):
                    raise
        raise AssertionError("unreachable")

    async def forward(self, request: Request, service: str) -> Response:
        """The upstream's answer to ``request`` (see module docstring for errors)."""
        upstream = self.upstreams.get(service)
        if upstream is None:
            raise Problem(404, "unknown_service", f"There is no service {service!r} behind this gateway")
        started = time.perf_counter()
        try:
            response = await self._send(upstream, request)
        except httpx.TransportError as exc:
            self._failed(upstream, exc, time.perf_counter() - started)
        latency = self._latency.get(service)
        if latency is None:
            latency = self._latency[service] = self.metrics.latency.labels(service)
        latency.observe(time.perf_counter() - started)
        self.metrics.responses.labels(service, str(response.status_code)).inc()
        # A scan of the raw pairs: httpx's Headers.get re-normalises every header per lookup.
        length = next((v for k, v in response.headers.raw if k.lower() == b"content-length"), None)
        if request.method == "HEAD" or (length is not None and length.isdigit() and int(length) <= BUFFER_LIMIT):
            try:
                body = b"".join([chunk async for chunk in response.aiter_raw()])
            except httpx.TransportError as exc:
                self._failed(upstream, exc, time.perf_counter() - started)
            finally:
                await response.aclose()
            if request.method == "HEAD":
                out = Response(status_code=response.status_code)
                out.raw_headers = response_headers(response, keep_length=True)
            else:
                # Starlette computes Content-Length from the body actually read.
                out = Response(body, status_code=response.status_code)
                out.raw_headers = response_headers(response, keep_length=False) + out.raw_headers
            return out
        return UpstreamStream(response, response_headers(response, keep_length=True))

    def _failed(self, upstream: Upstream, exc: httpx.TransportError, elapsed: float) -> NoReturn:
        if is_timeout(exc):
            self.metrics.responses.labels(upstream.name, "timeout").inc()
            log.warning("gateway.upstream.timeout", service=upstream.name, seconds=round(elapsed, 3))
            raise Problem(504, "upstream_timeout", f"The {upstream.name} service did not answer in time") from None
        self.metrics.responses.labels(upstream.name, "unavailable").inc()
        log.warning("gateway.upstream.unavailable", service=upstream.name, error=type(exc).__name__)
        raise Problem(502, "upstream_unavailable", f"The {upstream.name} service cannot be reached") from None


async def _proxy(request: Request, service: str) -> Response:
    await enforce_rate_limit(request)
    if request.scope["state"].get("principal") is None:
        token = bearer_from_headers(request.scope["headers"])
        if token is not None:  # present but invalid (the rate limit found no principal): 401
            request.state.principal = await request.app.state.token_verifier.verify(token)
    forwarder: Forwarder = request.app.state.forwarder
    return await forwarder.forward(request, service)


async def proxy_endpoint(request: Request) -> Response:
    """Starlette endpoint of ``/api/v1/{service}`` and ``/api/v1/{service}/{path:path}``: the
    catch-all after every route of the gateway's own (an unknown service ends here: 404)."""
    return await _proxy(request, request.path_params["service"])


class _ProxyRoute:
    """What the metrics middleware reads as the route template of a proxied request."""

    path = "/api/v1/{service}/{path:path}"


class ProxyFastPath:
    """ASGI middleware, innermost (after the body guard): a request under ``/api/v1/<name>/``
    for a configured upstream ``<name>`` is forwarded without going through the router.

    The catch-all route gives the same answer; this only skips matching the request against
    every route of the gateway's own first, which none of them could match (upstream names never
    collide with the gateway's own prefixes: see Settings) — FastAPI's route matching was a
    sizeable share of the gateway's CPU per proxied request. Problems are rendered here as
    problem+json, as the app's handlers would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1/"):
            service = scope["path"][8:].split("/", 1)[0]
            if service in scope["app"].state.forwarder.upstreams:
                scope["route"] = _ProxyRoute
                request = Request(scope, receive)
                try:
                    response = await _proxy(request, service)
                except Problem as problem:
                    response = problem_response(problem, request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
