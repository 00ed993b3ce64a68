"""The run worker: takes runs waiting for their snapshot and cross-check (``created``) and does it.

Several replicas may run it: each claim is ``SELECT … FOR UPDATE SKIP LOCKED`` and each step one
transaction, so a run is processed once, and a run left by a crashed process is picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import FastAPI

from services.subsidy.runs.service import process_next_step

log = structlog.get_logger("subsidy.runs.worker")


async def run_worker(app: FastAPI) -> None:
    """Process runs until cancelled; woken by ``app.state.run_wakeup`` or every poll interval."""
    wakeup: asyncio.Event = app.state.run_wakeup
    interval = float(app.state.settings.run_poll_seconds)
    work_mem = int(app.state.settings.snapshot_work_mem_mb)
    while True:
        if await process_next_step(app.state.uow_factory, work_mem_mb=work_mem):
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=interval)
        wakeup.clear()
