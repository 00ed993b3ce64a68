"""ASGI middleware every app of the suite runs: request context, body guard, metrics."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, unbind_contextvars

from shared.errors import PROBLEM_JSON, Problem

if TYPE_CHECKING:
    from starlette.requests import Request

log = structlog.get_logger("shared.http")

# A JSON \\uXXXX escape of a surrogate; valid only as a high+low pair (a character outside the BMP).
_SURROGATE_ESCAPE = re.compile(rb"\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _is_text(body: bytes, at: int) -> bool:
    """Whether the backslash at ``at`` is the second half of an escaped backslash (``\\\\``), so
    what follows is text, not an escape: an odd number of backslashes precedes it."""
    run = at
    while run and body[run - 1] == 0x5C:  # backslash
        run -= 1
    return (at - run) % 2 == 1


def has_lone_surrogate(body: bytes) -> bool:
    """True when the JSON text escapes half a surrogate pair (PostgreSQL cannot store it). The
    text ``\\\\ud800`` (an escaped backslash, then "ud800") is no escape."""
    if b"\\u" not in body and b"\\U" not in body:
        return False
    pos = 0
    while (match := _SURROGATE_ESCAPE.search(body, pos)) is not None:
        if _is_text(body, match.start()):
            pos = match.start() + 2  # an escape may still start inside what matched
            continue
        if match.group(1) is None or match.group(2) is None:
            return True
        pos = match.end()
    return False


def has_nul_escape(body: bytes) -> bool:
    """True when the JSON text escapes U+0000 (``\\u0000``), which PostgreSQL text cannot hold
    (not the text ``\\\\u0000``: an escaped backslash, then "u0000")."""
    found = body.find(b"\\u0000")
    while found != -1:
        if not _is_text(body, found):
            return True
        found = body.find(b"\\u0000", found + 1)
    return False


def nul_in_target(scope: Scope) -> bool:
    """True when the request's path or query string holds U+0000 (raw or as ``%00``)."""
    query: bytes = scope.get("query_string") or b""
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


def nul_in_body(body: bytes, content_type: bytes) -> bool:
    """True when a body of ``content_type`` (lower case, no parameters) carries U+0000: a raw NUL
    byte in any body, ``%00`` in a form, the ``\\u0000`` escape in JSON (or in a body of any other
    type but text and CSV, which some endpoints read as JSON)."""
    if b"\x00" in body:
        return True
    if content_type == _FORM:
        return b"%00" in body
    if content_type.startswith(b"text/") or content_type == b"application/csv":
        return False
    return has_nul_escape(body)


_FORM = b"application/x-www-form-urlencoded"
_NUL_PROBLEM = ("nul_character", "The request holds a NUL character (U+0000), which cannot be stored")


async def send_problem(scope: Scope, send: Send, problem: Problem) -> None:
    """Answer ``problem`` straight on the ASGI ``send``: the same response the app's problem
    handler gives (``shared.errors.problem_response``), for code that runs outside the router."""
    instance = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    body = json.dumps(problem.to_dict(instance), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (problem.headers or {}).items()]
    headers += [(b"content-length", str(len(body)).encode()), (b"content-type", PROBLEM_JSON.encode())]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_problem(send: Send, problem: Problem, request_id: str | None = None) -> None:
    body = json.dumps(problem.to_dict(), ensure_ascii=False).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyGuardMiddleware:
    """Refuse, before any validation or storage: oversized bodies (413), JSON with a lone
    surrogate or invalid UTF-8 (400), and U+0000 anywhere PostgreSQL text would get it (422
    ``nul_character``: the path, the query string, a body — see :func:`nul_in_body`).

    The body is read (up to ``max_bytes``) and replayed to the app. ``answers`` maps a path to a
    function giving the response for a refusal there (or None for the problem document): an
    endpoint whose protocol has its own error shape (the OAuth token endpoint) keeps it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = 2 * 1024 * 1024,
        answers: Mapping[str, Callable[[Problem], ASGIApp | None]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.answers = dict(answers or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if nul_in_target(scope):
            await self._refuse(scope, receive, send, Problem(422, *_NUL_PROBLEM))
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, Problem(413, "payload_too_large", f"The body exceeds {self.max_bytes} bytes"))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, Problem(413, "payload_too_large", f"The body exceeds {self.max_bytes} bytes"))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type.endswith(b"json") and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                await self._refuse(scope, receive, send, Problem(400, "malformed_json", "The body is not UTF-8 JSON"))
                return
            if has_lone_surrogate(body):
                await self._refuse(scope, receive, send, Problem(400, "invalid_unicode", "The body holds a lone surrogate"))
                return
        elif content_type.startswith(b"text/") and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                await self._refuse(scope, receive, send, Problem(400, "invalid_encoding", "The body is not UTF-8 text"))
                return
        if body and nul_in_body(body, content_type):
            await self._refuse(scope, receive, send, Problem(422, *_NUL_PROBLEM))
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        answer = self.answers.get(scope["path"])
        response = answer(problem) if answer is not None else None
        if response is None:
            await _send_problem(send, problem)
        else:
            await response(scope, receive, send)


FastHandler = Callable[[Scope, Receive, Send, ASGIApp], Awaitable[None]]


def fast_path(router: Any, method: str, path: str) -> Callable[[FastHandler], FastHandler]:
    """Decorator: ``handler(scope, receive, send, fallback)`` answers ``method path`` (exact path)
    before FastAPI's routing and dependency injection (:class:`FastPathMiddleware`, installed by
    ``shared.app`` for the fast paths of a service's routers). For a hot endpoint whose common case
    is simple: the handler answers that case and passes everything else to ``fallback`` (the
    app's own route, which stays the reference for every answer and for the OpenAPI document)."""

    def register(handler: FastHandler) -> FastHandler:
        paths = getattr(router, "fast_paths", None)
        if paths is None:
            paths = router.fast_paths = {}
        paths[(method, path)] = handler
        return handler

    return register


class FastPathMiddleware:
    """ASGI middleware, innermost (after the body guard): requests for a declared fast path go to
    its handler (see :func:`fast_path`); ``scope["route"]`` names the path for metrics and logs."""

    def __init__(self, app: ASGIApp, *, paths: dict[tuple[str, str], FastHandler]) -> None:
        self.app = app
        self.paths = dict(paths)
        self.routes = {path: _NamedRoute(path) for _, path in paths}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.paths.get((scope["method"], scope["path"]))
            if handler is not None:
                scope["route"] = self.routes[scope["path"]]
                await handler(scope, receive, send, self.app)
                return
        await self.app(scope, receive, send)


class _NamedRoute:
    def __init__(self, path: str) -> None:
        self.path = path


def request_id_of(request: Request) -> str | None:
    """The request id :class:`RequestContextMiddleware` gave ``request`` (else the caller's
    ``X-Request-ID``), ≤ 128 characters, for rows that must point back to the request's log lines."""
    value = getattr(request.state, "request_id", None) or request.headers.get("x-request-id")
    return value[:128] if value else None


class RequestContextMiddleware:
    """Bind request id and correlation id to the log context; count and time every request.

    A caller's ``X-Request-ID`` / ``X-Correlation-ID`` is kept when short and plain (see
    :func:`_clean_id`), else the request gets a new id (:func:`new_request_id`); the correlation
    id defaults to the request id. Both go into ``scope["state"]`` (``request.state``), every
    log line, and the response's ``X-Request-ID``. One ``http.request.completed`` line per
    request (not for /healthz, /readyz, /metrics, nor the services' reads of the shared clock).
    """

    def __init__(self, app: ASGIApp, *, service: str, registry: CollectorRegistry) -> None:
        self.app = app
        self.service = service
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # labels() validates and locks on every call: each child is looked up once.
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = correlation_id = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = _clean_id(value)
            elif key == b"x-correlation-id":
                correlation_id = _clean_id(value)
        request_id = request_id or new_request_id()
        correlation_id = correlation_id or request_id
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        state["correlation_id"] = correlation_id
        bind_contextvars(request_id=request_id, correlation_id=correlation_id)
        started = time.perf_counter()
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        failed = True
        try:
            await self.app(scope, receive, send_wrapper)
            failed = False
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            route = _route_template(scope)
            count = self._counts.get((method, route, status))
            if count is None:
                count = self._counts[(method, route, status)] = self.requests.labels(method, route, str(status))
            count.inc()
            latency = self._latencies.get((method, route))
            if latency is None:
                latency = self._latencies[(method, route)] = self.latency.labels(method, route)
            latency.observe(elapsed)
            if route not in _QUIET_ROUTES and (method, route) not in _QUIET_READS:
                log.info(
                    "http.request.completed", method=method, route=route, status=status,
                    duration_ms=round(elapsed * 1000, 1),
                )
            # After an unhandled exception the ids stay bound, so that the 500 handler outside
            # this middleware (Starlette's ServerErrorMiddleware) logs the error with them; the
            # binding lives in this request's own task context (the server runs each request in
            # a task of its own), so it reaches no other request.
            if not failed:
                unbind_contextvars("request_id", "correlation_id", "principal")


_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# Every service reads the shared clock every two seconds in demo and test mode
# (shared.app._follow_shared_clock): a line for each would bury the requests that matter.
# Setting the clock (PUT) is still logged; the reads are counted in the metrics.
_QUIET_READS = frozenset({("GET", "/api/v1/admin/clock")})
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]+")


def _clean_id(raw: bytes | None) -> str | None:
    """Accept a caller's id only if it is short and plain (it goes into logs and headers)."""
    if not raw or len(raw) > 128:
        return None
    text = raw.decode("latin-1")
    return text if _PLAIN_ID.fullmatch(text) else None


def _new_id_prefix() -> None:
    global _ID_PREFIX, _ID_COUNTER  # noqa: PLW0603 - per process
    prefix = os.urandom(10).hex()
    while _DIGIT_RUN.search(prefix):  # no long digit runs: the log masking then passes ids at a glance
        prefix = os.urandom(10).hex()
    _ID_PREFIX = prefix
    _ID_COUNTER = itertools.count(1)


_DIGIT_RUN = re.compile(r"\d{5}")


_ID_PREFIX = ""
_ID_COUNTER = itertools.count(1)
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    """A new request id: 20 hex digits (80 random bits) per process and a counter in hex (as
    unique as a uuid4 across processes, without a system call per request)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


def _route_template(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
