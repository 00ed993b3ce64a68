"""FastAPI dependencies of the wishes service.

``unit_of_work`` and ``pages`` are the shared dependencies (both ``async def``, so FastAPI runs
them on the event loop, with no worker-thread hop on the pledge path); ``uow_maker`` is this
service's own.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Header, Request

from shared.app import get_uow as unit_of_work
from shared.db import UnitOfWork
from shared.pagination import page_params as pages

__all__ = ["IdempotencyKey", "pages", "unit_of_work", "uow_maker"]


async def uow_maker(request: Request) -> Callable[[], UnitOfWork]:
    """A factory of fresh units of work for this request (an idempotent write may need a second
    one to replay a concurrent duplicate's answer)."""
    correlation_id = getattr(request.state, "correlation_id", None)
    return lambda: request.app.state.uow_factory(correlation_id)


#: The ``Idempotency-Key`` request header (writes that other systems and apps may retry).
IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=200)
