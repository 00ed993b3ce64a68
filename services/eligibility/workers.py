"""Background loops of the eligibility service, run supervised by ``shared.app``.

Each pass claims its due rows with ``SELECT … FOR UPDATE SKIP LOCKED`` and persists a fired-once
marker in the same transaction, so several replicas never double-fire:

- the daily return-to-poverty sweep (R-RM): households whose ``monitoring_due_on`` has come;
- the end of gradual exits (R-DB-6): a benefit in gradual exit ends (``benefit.ended``, reason
  ``gradual_exit_ended``) once its last month has come;
- application step deadlines (R-DB-9, R-TK-1): a passed deadline is marked breached and
  ``eligibility.application.deadline_breached`` emitted.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import structlog
from fastapi import FastAPI
from sqlalchemy import select

from services.eligibility.decisions.models import Benefit
from services.eligibility.figures import local_date, month_of, month_text

log = structlog.get_logger("eligibility.workers")


async def monitoring_sweep(app: FastAPI) -> None:
    """Daily return-to-poverty sweep (R-RM): evaluates every monitored household once a day."""
    from services.eligibility.monitoring.service import sweep

    settings = app.state.settings
    while True:
        evaluated = await sweep(app.state.uow_factory, batch=settings.sweep_batch)
        if evaluated:
            log.info("eligibility.monitoring.swept", households=evaluated)
        await asyncio.sleep(settings.worker_interval_seconds)


async def end_gradual_exits(uow_factory, *, batch: int = 200) -> int:  # noqa: ANN001
    """End the gradual exits whose last month has come (R-DB-6); returns how many."""
    from services.eligibility.decisions.service import end, new_decision
    from services.eligibility.registry.models import Household

    done = 0
    while True:
        async with uow_factory(None) as uow:
            today = local_date(uow.now())
            benefits = (
                await uow.session.scalars(
                    select(Benefit)
                    .where(Benefit.status == "gradual_exit", Benefit.gradual_exit_until <= month_of(today))
                    .order_by(Benefit.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not benefits:
                return done
            for benefit in benefits:
                household = await uow.session.get(Household, benefit.household_id)
                assert household is not None and benefit.gradual_exit_until is not None
                decision = new_decision(
                    uow, household=household, category=benefit.category, kind="gradual_exit_end", outcome="ended",
                    assessed_on=today, amount=Decimal("0.00"), rule_ids=("R-DB-6",), decided_by="system",
                    trace={"rules": ["R-DB-6"], "inputs": {"gradual_exit_until": month_text(benefit.gradual_exit_until)},
                           "parameters": [], "figures": {}, "reasons": ["gradual_exit_ended"], "outcome": "ended"},
                )
                end(uow, benefit, last_month=benefit.gradual_exit_until, reason="gradual_exit_ended", decision=decision)
            await uow.commit()
            done += len(benefits)
            if len(benefits) < batch:
                return done


async def gradual_exit_worker(app: FastAPI) -> None:
    """R-DB-6: ends gradual exits as their last month comes."""
    while True:
        await end_gradual_exits(app.state.uow_factory)
        await asyncio.sleep(app.state.settings.worker_interval_seconds)


async def deadline_worker(app: FastAPI) -> None:
    """R-DB-9 / R-TK-1: marks passed step deadlines breached, once."""
    from services.eligibility.workflow.service import fire_breached_deadlines

    while True:
        await fire_breached_deadlines(app.state.uow_factory)
        await asyncio.sleep(app.state.settings.worker_interval_seconds)
