"""The care service's time-driven work: one sweeper loop per process (any number of replicas).

Each pass runs every sweep in its own short transactions: overdue visits (R-LB-2), alert
escalations (R-LB-3), overdue reassessments (R-TK-1), overdue supervisions (R-TK-5) and children
ageing out of the left-behind registry (R-LB-1). Every sweep claims its rows with FOR UPDATE SKIP
LOCKED (or an INSERT … ON CONFLICT DO NOTHING of its marker) and persists a fired-once marker in
the same transaction as its events, so replicas sweeping at once never double-fire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI

from services.care.devices.service import sweep_escalations
from services.care.dispersed.service import sweep_overdue_supervisions
from services.care.leftbehind.service import sweep_aged_out
from services.care.selfcare.service import sweep_overdue_reassessments
from services.care.visits.service import sweep_overdue_visits
from shared.db import UnitOfWork

log = structlog.get_logger("care.workers")

Sweep = Callable[..., Awaitable[int]]
SWEEPS: tuple[Sweep, ...] = (
    sweep_escalations,
    sweep_overdue_visits,
    sweep_overdue_reassessments,
    sweep_overdue_supervisions,
    sweep_aged_out,
)


async def run_sweep(uow_factory: Callable[[], UnitOfWork], sweep: Sweep, *, batch: int) -> int:
    """Run ``sweep`` in batches (one transaction each) until a batch comes back short."""
    total = 0
    while True:
        async with uow_factory() as uow:
            fired = await sweep(uow, batch=batch)
            await uow.commit()
        total += fired
        if fired < batch:
            return total


async def sweep_once(app: FastAPI) -> dict[str, int]:
    """One pass of every sweep; a failing sweep is logged and does not stop the others."""
    settings = app.state.settings
    results: dict[str, int] = {}
    for sweep in SWEEPS:
        try:
            results[sweep.__name__] = await run_sweep(lambda: app.state.uow_factory(None), sweep, batch=settings.sweep_batch_size)
        except Exception:
            log.exception("care.sweep.failed", sweep=sweep.__name__)
    return results


async def sweeper(app: FastAPI) -> None:
    """The worker registered with the app: a pass every ``sweep_interval_seconds``."""
    interval = app.state.settings.sweep_interval_seconds
    while True:
        await sweep_once(app)
        await asyncio.sleep(interval)
