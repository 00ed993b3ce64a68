"""ASGI middleware every app of the suite runs: request context, body guard, metrics."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_JSON, Problem

log = structlog.get_logger("shared.http")

# A JSON \\uXXXX escape of a surrogate; valid only as a high+low pair (a character outside the BMP).
_SURROGATE_ESCAPE = re.compile(rb"\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def has_lone_surrogate(body: bytes) -> bool:
    """True when the JSON text escapes half a surrogate pair (PostgreSQL cannot store it)."""
    if b"\\u" not in body and b"\\U" not in body:
        return False
    for match in _SURROGATE_ESCAPE.finditer(body):
        if match.group(1) is None or match.group(2) is None:
            return True
    return False


async def _send_problem(send: Send, problem: Problem, request_id: str | None = None) -> None:
    body = json.dumps(problem.to_dict(), ensure_ascii=False).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyGuardMiddleware:
    """Refuse oversized bodies (413) and JSON with a lone surrogate or invalid UTF-8 (400).

    The body is read (up to ``max_bytes``) and replayed to the app, so the check happens
    before any validation or storage.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = 2 * 1024 * 1024) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_problem(send, Problem(413, "payload_too_large", f"The body exceeds {self.max_bytes} bytes"))
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
                await _send_problem(send, Problem(413, "payload_too_large", f"The body exceeds {self.max_bytes} bytes"))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type.endswith(b"json") and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                await _send_problem(send, Problem(400, "malformed_json", "The body is not UTF-8 JSON"))
                return
            if has_lone_surrogate(body):
                await _send_problem(send, Problem(400, "invalid_unicode", "The body holds a lone surrogate"))
                return
        elif content_type.startswith(b"text/") and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                await _send_problem(send, Problem(400, "invalid_encoding", "The body is not UTF-8 text"))
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestContextMiddleware:
    """Bind request id and correlation id to the log context; count and time every request."""

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = _clean_id(headers.get(b"x-request-id")) or uuid.uuid4().hex
        correlation_id = _clean_id(headers.get(b"x-correlation-id")) or request_id
        scope.setdefault("state", {})["request_id"] = request_id
        scope["state"]["correlation_id"] = correlation_id
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(scope["method"], route).observe(elapsed)
            if route not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "http.request.completed",
                    method=scope["method"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 1),
                )
            structlog.contextvars.unbind_contextvars("request_id", "correlation_id", "principal")


def _clean_id(raw: bytes | None) -> str | None:
    """Accept a caller's id only if it is short and plain (it goes into logs and headers)."""
    if not raw or len(raw) > 128:
        return None
    text = raw.decode("latin-1")
    return text if re.fullmatch(r"[A-Za-z0-9._:-]+", text) else None


def _route_template(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
