"""Return-to-poverty monitoring of registered households (R-RM-1..5): evaluate on a relevant
change and in the daily sweep, record each assessment with its flags, tell the other services
(``eligibility.risk.flagged``) when the flags change, and create the referrals."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import structlog
from sqlalchemy import select

from services.eligibility import events
from services.eligibility.decisions.models import Benefit
from services.eligibility.decisions.service import LIVE
from services.eligibility.figures import ZERO, local_date
from services.eligibility.monitoring import rules
from services.eligibility.monitoring.models import Referral, RiskAssessment
from services.eligibility.parameters.service import parameters_on
from services.eligibility.registry.assessment import household_figures
from services.eligibility.registry.models import Household
from shared.db import UnitOfWork

log = structlog.get_logger("eligibility.monitoring")

COVERING = ("dibao", "dibao_single_person", "tekun")


def is_monitored(household: Household) -> bool:
    """R-RM-1: ex-poor, registered edge, or data reported by another department."""
    return bool(rules.population(household.ex_poor, household.edge, household.department_data))


async def evaluate_household(*, uow: UnitOfWork, household: Household, trigger: str, on: date | None = None) -> RiskAssessment | None:
    """Evaluate R-RM-2..4 on ``household`` (a monitored one; others return None), record the
    assessment, emit ``eligibility.risk.flagged`` when its set of flags differs from the last one,
    and open the R-RM-5 referrals not already open (``eligibility.referral.created``). The next
    sweep is due tomorrow."""
    if not is_monitored(household):
        household.monitoring_due_on = None
        return None
    session = uow.session
    await session.flush()
    on = on or local_date(uow.now())
    figures = await household_figures(session, household, on)
    params = await parameters_on(session, on)
    covered = await session.scalar(
        select(Benefit.id).where(Benefit.household_id == household.id, Benefit.status.in_(LIVE), Benefit.category.in_(COVERING)).limit(1)
    ) is not None
    deductions = sum((v for k, v in figures.expenditure_12m.items() if k in ("medical", "disability", "schooling", "epidemic", "employment_cost")), ZERO)
    result = rules.evaluate(
        rules.MonitoringInput(
            assessed_on=on,
            members=max(len(figures.members), 1),
            income_12m=figures.income_12m,
            income_prev_12m=figures.income_prev_12m,
            income_prev_year=figures.income_prev_year,
            rigid_expenditure_12m={k: v for k, v in figures.expenditure_12m.items() if k in rules.RIGID_CATEGORIES},
            deductions_12m=deductions,
            ex_poor=household.ex_poor,
            edge=household.edge,
            department_data=household.department_data,
            covered=covered,
        ),
        params,
    )
    assessment = RiskAssessment(
        household_id=household.id, town=household.town, assessed_on=on, trigger=trigger, monitored=result.monitored,
        covered=covered, flags=[f.as_dict() for f in result.flags], trace=result.trace(), created_at=uow.now(),
    )
    session.add(assessment)
    await session.flush()
    signature = ",".join(sorted(result.codes))
    if result.flags and signature != (household.monitoring_signature or ""):
        uow.emit(
            events.RISK_FLAGGED,
            events.RiskFlaggedData(
                household_id=str(household.id), town=household.town, covered=covered,
                flags=[events.RiskFlagData(**f.as_dict()) for f in result.flags],
                assessment_id=assessment.id, assessed_on=on,
            ),
            subject=str(household.id),
        )
        log.info("eligibility.risk.flagged", household_id=str(household.id), flags=signature)
    household.monitoring_signature = signature
    household.monitoring_due_on = on + timedelta(days=1)
    for suggestion in result.referrals:
        await _refer(uow, household, assessment, suggestion)
    return assessment


async def _refer(uow: UnitOfWork, household: Household, assessment: RiskAssessment, suggestion: rules.Referral) -> None:
    session = uow.session
    open_one = await session.scalar(
        select(Referral.id).where(Referral.household_id == household.id, Referral.kind == suggestion.kind, Referral.status == "open")
    )
    if open_one is not None:
        return
    referral = Referral(
        id=uuid.uuid4(), household_id=household.id, town=household.town, kind=suggestion.kind,
        reasons=list(suggestion.reasons), suggested_amount=suggestion.suggested_amount,
        risk_assessment_id=assessment.id, source="monitoring", status="open", created_at=uow.now(),
    )
    session.add(referral)
    uow.emit(
        events.REFERRAL_CREATED,
        events.ReferralCreatedData(
            referral_id=str(referral.id), household_id=str(household.id), town=household.town, kind=suggestion.kind,
            reasons=list(suggestion.reasons), suggested_amount=suggestion.suggested_amount,
        ),
        subject=str(referral.id),
    )
    log.info("eligibility.referral.created", referral_id=str(referral.id), kind=suggestion.kind)


async def sweep(uow_factory, *, batch: int = 200) -> int:  # noqa: ANN001
    """One pass of the daily sweep: households due today or earlier, claimed with ``FOR UPDATE
    SKIP LOCKED`` so replicas never evaluate the same one twice; committed per batch. Returns how
    many were evaluated."""
    done = 0
    while True:
        async with uow_factory(None) as uow:
            today = local_date(uow.now())
            households = (
                await uow.session.scalars(
                    select(Household)
                    .where(Household.monitoring_due_on.is_not(None), Household.monitoring_due_on <= today)
                    .order_by(Household.monitoring_due_on, Household.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not households:
                return done
            for household in households:
                await evaluate_household(uow=uow, household=household, trigger="daily_sweep", on=today)
            await uow.commit()
            done += len(households)
            if len(households) < batch:
                return done
