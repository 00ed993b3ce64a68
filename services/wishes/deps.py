"""FastAPI dependencies of the wishes service.

``unit_of_work`` and ``pages`` are the shared dependencies (both ``async def``, so FastAPI runs
them on the event loop, with no worker-thread hop on the pledge path); ``uow_maker`` and
``raw_connection`` are this service's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Header, Request

from shared.app import get_uow as unit_of_work
from shared.db import UnitOfWork
from shared.pagination import page_params as pages

__all__ = ["IdempotencyKey", "pages", "raw_connection", "unit_of_work", "uow_maker"]


async def uow_maker(request: Request) -> Callable[[], UnitOfWork]:
    """A factory of fresh units of work for this request (an idempotent write may need a second
    one to replay a concurrent duplicate's answer)."""
    correlation_id = getattr(request.state, "correlation_id", None)
    return lambda: request.app.state.uow_factory(correlation_id)


#: The ``Idempotency-Key`` request header (writes that other systems and apps may retry).
IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=200)


@asynccontextmanager
async def raw_connection(app: FastAPI) -> AsyncIterator[Any]:
    """The asyncpg connection of a connection checked out of the app's engine pool (and returned
    to it afterwards), with no transaction open: each statement on it commits on its own. For the
    pledge path's single statement (see ``pledges.service.pledge_one``).

    At most ``db_pool_size - 2`` callers hold one at a time (the rest wait their turn here): a
    burst of pledges then reuses the pool's standing connections instead of opening overflow
    connections that are closed again as soon as they are returned (a new PostgreSQL backend and
    a new statement preparation each time), and leaves room for the relay and the workers.
    """
    slots = getattr(app.state, "raw_connection_slots", None)
    if slots is None:
        slots = app.state.raw_connection_slots = asyncio.Semaphore(max(1, app.state.settings.db_pool_size - 2))
    async with slots, app.state.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        yield raw.driver_connection
