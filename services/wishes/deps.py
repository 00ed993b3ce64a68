"""FastAPI dependencies of the wishes service.

They do what ``shared.app.get_uow`` and ``shared.pagination.page_params`` do, as ``async def``:
FastAPI runs a plain ``def`` dependency in a worker thread, a hop that costs every request
(measured on the pledge path; reported to the lead for the shared ones).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Header, Query, Request

from shared.db import UnitOfWork
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageParams, page_params


async def unit_of_work(request: Request) -> UnitOfWork:
    """A fresh unit of work for this request (enter it with ``async with``)."""
    return request.app.state.uow_factory(getattr(request.state, "correlation_id", None))


async def pages(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1–500)"),
    cursor: str | None = Query(None, max_length=512, description="next_cursor of the previous page"),
) -> PageParams:
    """``?limit=`` and ``?cursor=`` (422 ``invalid_cursor`` for a cursor we did not issue)."""
    return await page_params(limit, cursor)


async def uow_maker(request: Request) -> Callable[[], UnitOfWork]:
    """A factory of fresh units of work for this request (an idempotent write may need a second
    one to replay a concurrent duplicate's answer)."""
    correlation_id = getattr(request.state, "correlation_id", None)
    return lambda: request.app.state.uow_factory(correlation_id)


#: The ``Idempotency-Key`` request header (writes that other systems and apps may retry).
IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=200)
