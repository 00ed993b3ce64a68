"""The query behind every service's ``GET /api/v1/<service>/audit-log`` (staff reads of personal data).

Each service keeps its own audit table (who read what, when, through which client); the three
tables share ``id``, ``at`` and ``actor``, and their lists the same rules: newest first, keyset
paged by id, filters ANDed, ``actor`` compared ignoring case as usernames are (each table has an
index on ``(lower(actor), id)``; an empty ``actor`` is no filter), ``from`` ≤ at < ``to``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute

from shared.pagination import PageParams


def audit_log_query(
    model: Any, page: PageParams, *, actor: str | None, since: datetime | None, until: datetime | None,
    equal: Iterable[tuple[InstrumentedAttribute[Any], Any]] = (),
) -> Select[Any]:
    """``SELECT model`` for one page of an audit log (``page.limit + 1`` rows, for
    :func:`shared.pagination.make_page` with ``key=[id]``). ``equal``: (column, value) filters,
    each applied when its value is not None. ``page.after`` is ``[id]``, signed by make_page."""
    query = select(model).order_by(model.id.desc()).limit(page.limit + 1)
    if actor:
        query = query.where(func.lower(model.actor) == actor.lower())
    for column, value in equal:
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(model.at >= since)
    if until is not None:
        query = query.where(model.at < until)
    if page.after:
        query = query.where(model.id < int(page.after[0]))
    return query
