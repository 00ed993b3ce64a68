"""Background loops of the eligibility service, run supervised by ``shared.app``.

Each pass claims its due rows with ``SELECT … FOR UPDATE SKIP LOCKED`` and persists a fired-once
marker in the same transaction, so several replicas never double-fire:

- the daily return-to-poverty sweep (R-RM): households whose ``monitoring_due_on`` has come;
- the end of gradual exits (R-DB-6): a benefit in gradual exit ends (``benefit.ended``, reason
  ``gradual_exit_ended``) once its last month has come;
- tekun minors' review (R-TK-1): support granted as a minor is reassessed on the 18th birthday
  and ends then unless the person is still in school (or qualifies otherwise);
- application step deadlines (R-DB-9, R-TK-1): a passed deadline is marked breached and
  ``eligibility.application.deadline_breached`` emitted; one working day before it,
  ``eligibility.application.deadline_at_risk`` (fired-once marker ``at_risk_fired_at``).
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


async def review_tekun_minors(uow_factory, *, batch: int = 100) -> int:  # noqa: ANN001
    """R-TK-1: a tekun minor keeps the support until 18 (longer while in compulsory education,
    high school or secondary vocational school). Each tekun benefit granted only on the grounds
    of minority carries its review day (the 18th birthday, ``review_on``); once it has come the
    person is reassessed as of that day: still eligible (in school, or another ground such as a
    disability) → the support continues (``review_on`` cleared or moved); otherwise it ends after
    the month of the birthday (``benefit.ended``, ``no_longer_eligible``). Claimed with SKIP
    LOCKED and committed per batch; returns how many were reviewed."""
    from services.eligibility.decisions.service import apply_person_category
    from services.eligibility.registry.models import Household, Person

    done = 0
    while True:
        async with uow_factory(None) as uow:
            today = local_date(uow.now())
            benefits = (
                await uow.session.scalars(
                    select(Benefit)
                    .where(Benefit.category == "tekun", Benefit.status != "ended", Benefit.review_on <= today)
                    .order_by(Benefit.review_on, Benefit.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not benefits:
                return done
            for benefit in benefits:
                review_on = benefit.review_on
                assert review_on is not None
                household = await uow.session.get(Household, benefit.household_id)
                person = await uow.session.get(Person, benefit.person_id)
                assert household is not None
                if person is None or person.status != "active":
                    benefit.review_on = None  # a death or move ends the benefit on its own path
                    continue
                decision, _ = await apply_person_category(
                    uow=uow, household=household, person=person, category="tekun", on=review_on, kind="review",
                    decided_by="system", note="R-TK-1: a tekun minor reached the age of support",
                )
                if benefit.review_on is not None and benefit.review_on <= review_on:
                    benefit.review_on = None  # never the same review twice
                log.info("eligibility.tekun.reviewed", benefit_id=str(benefit.id), outcome=decision.outcome)
            await uow.commit()
            done += len(benefits)
            if len(benefits) < batch:
                return done


async def tekun_review_worker(app: FastAPI) -> None:
    """R-TK-1: reviews tekun minors' support on their 18th birthday."""
    while True:
        await review_tekun_minors(app.state.uow_factory)
        await asyncio.sleep(app.state.settings.worker_interval_seconds)


async def deadline_worker(app: FastAPI) -> None:
    """R-DB-9 / R-TK-1: marks passed step deadlines breached, once; warns once when one working
    day remains."""
    from services.eligibility.workflow.service import fire_at_risk_deadlines, fire_breached_deadlines

    while True:
        await fire_breached_deadlines(app.state.uow_factory)
        await fire_at_risk_deadlines(app.state.uow_factory)
        await asyncio.sleep(app.state.settings.worker_interval_seconds)
