"""Background worker: expire pledges not delivered within ``pledge_days`` (R-MW-4).

Runs in every replica; the sweep claims due pledges with ``FOR UPDATE SKIP LOCKED``, so two
replicas never expire the same pledge, and the pledge's status is the persisted fired-once marker.
"""

from __future__ import annotations

import asyncio

import structlog
from fastapi import FastAPI

from services.wishes.pledges.service import expire_due_pledges

log = structlog.get_logger("wishes.pledges.worker")

BATCH = 100


async def sweep_once(app: FastAPI) -> int:
    """One batch of due pledges expired and committed; returns how many."""
    async with app.state.uow_factory(None) as uow:
        expired = await expire_due_pledges(uow=uow, limit=BATCH)
        if expired:
            await uow.commit()
    return expired


async def expire_pledges(app: FastAPI) -> None:
    """Sweep every ``expiry_sweep_seconds`` (at once again while full batches come back)."""
    interval: float = app.state.settings.expiry_sweep_seconds
    while True:
        expired = await sweep_once(app)
        if expired:
            log.info("wishes.pledges.swept", expired=expired)
        if expired < BATCH:
            await asyncio.sleep(interval)
