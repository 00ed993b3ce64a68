"""Return-to-poverty monitoring of registered households (R-RM-1..5): evaluate on a relevant
change and in the daily sweep, record each assessment with its flags, tell the other services
(``eligibility.risk.flagged``) when the flags change, and create the referrals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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
from services.eligibility.registry.assessment import income_figures_of
from services.eligibility.registry.models import Household
from shared.db import UnitOfWork

log = structlog.get_logger("eligibility.monitoring")

COVERING = ("dibao", "dibao_single_person", "tekun")
# R-DB-2 deductions from income for the per-capita figure of R-RM-4.
DEDUCTIBLE = ("medical", "disability", "schooling", "epidemic", "employment_cost")


def is_monitored(household: Household) -> bool:
    """R-RM-1: ex-poor, registered edge, or data reported by another department."""
    return bool(rules.population(household.ex_poor, household.edge, household.department_data))


async def evaluate_household(*, uow: UnitOfWork, household: Household, trigger: str, on: date | None = None) -> RiskAssessment | None:
    """Evaluate R-RM-2..4 on ``household`` (a monitored one; others return None), record the
    assessment, emit ``eligibility.risk.flagged`` when its set of flags differs from the last one,
    and open the R-RM-5 referrals not already open (``eligibility.referral.created``). The next
    sweep is due tomorrow."""
    return (await evaluate_households(uow=uow, households=[household], trigger=trigger, on=on))[0]


async def evaluate_households(
    *, uow: UnitOfWork, households: Sequence[Household], trigger: str, on: date | None = None
) -> list[RiskAssessment | None]:
    """:func:`evaluate_household` on each of ``households`` (distinct), in order, with the same
    outcome as one call per household: an assessment (None for one not monitored), events in the
    same order. What the rules read is loaded for all of them at once — members, incomes and
    expenditure (three SELECTs), the parameters in force on ``on`` (once), coverage by a live
    dibao/tekun benefit and the open referrals (one SELECT each) — and the assessments are
    inserted in one statement. Raises ValueError / MissingParameter as :func:`rules.evaluate`."""
    session = uow.session
    on = on or local_date(uow.now())
    monitored: list[Household] = []
    for household in households:
        if is_monitored(household):
            monitored.append(household)
        else:
            household.monitoring_due_on = None
    if not monitored:
        return [None] * len(households)
    await session.flush()  # the caller's pending changes (a new income, a member) count
    ids = [h.id for h in monitored]
    figures_of = await income_figures_of(session, ids, on)
    in_force = await parameters_on(session, on)
    covered_ids = set(
        (await session.scalars(
            select(Benefit.household_id)
            .where(Benefit.household_id.in_(ids), Benefit.status.in_(LIVE), Benefit.category.in_(COVERING))
            .distinct()
        )).all()
    )
    open_referrals = {
        (row.household_id, row.kind)
        for row in (await session.execute(
            select(Referral.household_id, Referral.kind).where(Referral.household_id.in_(ids), Referral.status == "open")
        )).all()
    }
    results: list[tuple[Household, bool, rules.MonitoringResult, RiskAssessment]] = []
    for household in monitored:
        figures = figures_of[household.id]
        covered = household.id in covered_ids
        deductions = sum((v for k, v in figures.expenditure_12m.items() if k in DEDUCTIBLE), ZERO)
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
            in_force.fork(),  # each trace lists the versions its own evaluation read
        )
        assessment = RiskAssessment(
            household_id=household.id, town=household.town, assessed_on=on, trigger=trigger, monitored=result.monitored,
            covered=covered, flags=[f.as_dict() for f in result.flags], trace=result.trace(), created_at=uow.now(),
        )
        results.append((household, covered, result, assessment))
    session.add_all([assessment for *_, assessment in results])
    await session.flush()  # one INSERT … RETURNING: the ids the events and referrals carry
    for household, covered, result, assessment in results:
        _record(uow, household, covered, result, assessment, on, open_referrals)
    by_id = {household.id: assessment for household, _, _, assessment in results}
    return [by_id.get(h.id) for h in households]


def _record(
    uow: UnitOfWork, household: Household, covered: bool, result: rules.MonitoringResult, assessment: RiskAssessment,
    on: date, open_referrals: set[tuple[uuid.UUID, str]],
) -> None:
    """The outcome of one evaluation: the flag event when the set of flags changed, the next due
    date, the referrals not already open."""
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
        if (household.id, suggestion.kind) not in open_referrals:
            _refer(uow, household, assessment, suggestion)
            open_referrals.add((household.id, suggestion.kind))


def _refer(uow: UnitOfWork, household: Household, assessment: RiskAssessment, suggestion: rules.Referral) -> None:
    """Open an R-RM-5 referral (the caller checked that none of its kind is open)."""
    session = uow.session
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
            # Every due household is evaluated again, none skipped as "unchanged": the outcome
            # depends on the date as well as on the registry — the 12-month windows move on the
            # 1st of each month and the previous calendar year on 1 January, a member counts
            # until the day after his death (``deceased_on``), parameter versions come into
            # force on their date — and on rows that change without touching the household
            # (benefits covering it, referrals closed by a caseworker: a still-flagged household
            # is referred again). Each day's assessment is also recorded and listed by the API.
            # A safe "unchanged" key would have to cover all of these, while the whole batch is
            # now read in five set-based SELECTs; see evaluate_households.
            await evaluate_households(uow=uow, households=households, trigger="daily_sweep", on=today)
            await uow.commit()
            done += len(households)
            if len(households) < batch:
                return done
