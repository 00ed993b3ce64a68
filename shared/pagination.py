"""Cursor pagination: ``?limit=`` (default 50, max 500) and ``?cursor=`` → ``{items, next_cursor}``.

A cursor is an opaque URL-safe token holding the sort key of the last item returned; the next page
is everything after it (keyset pagination, stable under concurrent inserts).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from shared.errors import Problem

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    after: list[Any] | None


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The sort key inside ``cursor``; 422 ``invalid_cursor`` for anything we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise Problem(422, "invalid_cursor", "The cursor is not valid") from None
    if not isinstance(key, list):
        raise Problem(422, "invalid_cursor", "The cursor is not valid")
    return key


async def page_params(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1–500)"),
    cursor: str | None = Query(None, max_length=512, description="next_cursor of the previous page"),
) -> PageParams:
    """FastAPI dependency parsing ``limit`` and ``cursor``."""
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


def make_page(rows: list[T], limit: int, key: Any) -> Page[T]:
    """``rows`` fetched with ``LIMIT limit + 1``; ``key(row)`` gives the sort key for the cursor."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(key(rows[-1])) if has_more and rows else None)
