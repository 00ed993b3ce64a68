"""Cursor pagination: ``?limit=`` (default 50, max 500) and ``?cursor=`` → ``{items, next_cursor}``.

A cursor is an opaque URL-safe token holding the sort key of the last item returned; the next page
is everything after it (keyset pagination, stable under concurrent inserts).

Cursors are signed: ``<base64url(JSON key)>.<base64url(HMAC-SHA256 tag, 16 bytes)>``, the tag
taken over the list's route (``/api/v1/subsidy/runs/{run_id}/lines``) and the key. Endpoints turn
the key's parts into UUIDs, dates and ints without checking them, so a cursor the suite did not
issue, or issued for another list, is refused at decode (422 ``invalid_cursor``) before any
endpoint sees it. The HMAC key is the process's ``<NAME>_CURSOR_SECRET``
(:func:`configure_cursor_secret`, called by the app factory); unset, a random key per process,
which is enough for one process but not for replicas (``make run`` passes one key to all).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel

from shared.errors import Problem

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
TAG_BYTES = 16  # 128 bits: forging needs 2^128 guesses

_key: bytes = secrets.token_bytes(32)
# The route of the list being served, set by page_params: make_page and encode_cursor sign for it.
_scope: ContextVar[str] = ContextVar("cursor_scope", default="")


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    after: list[Any] | None


def configure_cursor_secret(secret: str | None) -> None:
    """Sign and check cursors with ``secret`` (every process of a suite must get the same one);
    ``None`` or empty keeps this process's random key."""
    global _key
    if secret:
        _key = hashlib.sha256(b"quangang-cursor\0" + secret.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


def _tag(scope: str, payload: bytes) -> bytes:
    return hmac.new(_key, scope.encode() + b"\0" + payload, hashlib.sha256).digest()[:TAG_BYTES]


def encode_cursor(key: list[Any], scope: str | None = None) -> str:
    """The signed cursor for sort key ``key`` (a JSON-able list) of the list at route ``scope``
    (default: the route page_params saw in this request)."""
    scope = _scope.get() if scope is None else scope
    payload = json.dumps(key, default=str, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_tag(scope, payload))}"


def decode_cursor(cursor: str, scope: str | None = None) -> list[Any]:
    """The sort key inside ``cursor``; 422 ``invalid_cursor`` for anything this suite did not
    issue for the list at route ``scope`` (default: as :func:`encode_cursor`)."""
    scope = _scope.get() if scope is None else scope
    invalid = Problem(422, "invalid_cursor", "The cursor is not valid")
    payload_text, dot, tag_text = cursor.partition(".")
    if not dot:
        raise invalid
    try:
        payload, tag = _unb64(payload_text), _unb64(tag_text)
    except (ValueError, binascii.Error):
        raise invalid from None
    if not hmac.compare_digest(tag, _tag(scope, payload)):
        raise invalid
    try:
        key = json.loads(payload)
    except (ValueError, UnicodeDecodeError):  # only if the key leaked: we sign valid JSON
        raise invalid from None
    if not isinstance(key, list):
        raise invalid
    return key


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or request.url.path


async def page_params(
    request: Request,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1–500)"),
    cursor: str | None = Query(None, max_length=512, description="next_cursor of the previous page"),
) -> PageParams:
    """FastAPI dependency parsing ``limit`` and ``cursor`` (422 ``invalid_cursor`` for a cursor
    not issued by this suite for this list)."""
    _scope.set(_route_of(request))
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


def make_page(rows: list[T], limit: int, key: Any) -> Page[T]:
    """``rows`` fetched with ``LIMIT limit + 1``; ``key(row)`` gives the sort key for the cursor."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(key(rows[-1])) if has_more and rows else None)
