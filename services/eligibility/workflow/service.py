"""The application workflow (R-DB-9 for dibao and the allowances, R-TK-1 for tekun).

accepted → (start investigation) investigating → (opinion) opinion_given → (notice, when the
opinion is to approve) in_notice → (submit, after the notice) with_approver → approved | refused
→ (refused) refusal_notified; withdrawn from any open step. Each step's deadline in working days
is stored and tracked: met when the step is done, warned (once) when one working day remains,
breached (once) by the worker when it passes.

An objection (公示异议) recorded during the public notice stops the file from going to the approver
until the town resolves it: upheld → the application is refused with the reason; dismissed → it
continues.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import structlog
from sqlalchemy import select

from services.eligibility import events
from services.eligibility.access import ensure_visible, village_scoped
from services.eligibility.decisions import service as decisions
from services.eligibility.figures import local_date
from services.eligibility.parameters.service import parameters_on
from services.eligibility.registry import service as registry
from services.eligibility.registry.models import Household, Person
from services.eligibility.workflow import rules
from services.eligibility.workflow.models import Application, ApplicationDeadline, ApplicationObjection
from shared.auth import Principal
from shared.calendar_store import load_calendar
from shared.db import UnitOfWork
from shared.errors import Problem, not_found

log = structlog.get_logger("eligibility.workflow")

OPEN = ("accepted", "investigating", "opinion_given", "in_notice", "with_approver")
PERSON_CATEGORIES = ("tekun", "orphan", "child_without_care", "revolutionary_veteran")


async def get_application(uow: UnitOfWork, application_id: uuid.UUID, principal: Principal, *, lock: bool = True) -> Application:
    application = await uow.session.get(Application, application_id, with_for_update=lock)
    if application is None:
        raise not_found("application")
    principal.ensure_town(application.town, "application")
    if village_scoped(principal):  # a village officer: its own village's households only
        household = await uow.session.get(Household, application.household_id)
        ensure_visible(principal, application.town, household.village if household else None, "application")
    return application


async def deadlines_of(uow: UnitOfWork, application_id: uuid.UUID) -> list[ApplicationDeadline]:
    return list((await uow.session.scalars(
        select(ApplicationDeadline).where(ApplicationDeadline.application_id == application_id).order_by(ApplicationDeadline.id)
    )).all())


async def _add_deadline(uow: UnitOfWork, application: Application, step: str, starts_on: date) -> ApplicationDeadline:
    params = await parameters_on(uow.session, starts_on)
    days = rules.working_days_for(application.category, step, params, extended=application.extended)
    calendar = await load_calendar(uow.session)
    deadline = rules.step_deadline(starts_on, days, calendar)
    at_risk_at = rules.warning_instant(starts_on, days, params.integer("deadline_warning_working_days"), calendar)
    row = ApplicationDeadline(
        application_id=application.id, step=step, working_days=days, starts_on=starts_on,
        due_date=deadline.deadline_date, due_at=deadline.deadline_at, provisional=deadline.provisional,
        at_risk_at=at_risk_at,
    )
    uow.session.add(row)
    return row


async def _meet(uow: UnitOfWork, application: Application, *steps: str) -> None:
    for row in await deadlines_of(uow, application.id):
        if row.step in steps and row.met_at is None:
            row.met_at = uow.now()


def _log(uow: UnitOfWork, application: Application, step: str, by: str, note: str | None = None) -> None:
    now = uow.now()
    application.steps = [*(application.steps or []), {"step": step, "at": now.isoformat(), "by": by, "note": note}]
    application.updated_at = now


def _require(application: Application, *statuses: str) -> None:
    if application.status not in statuses:
        raise Problem(409, "wrong_step", f"the application is {application.status}; this step needs {' or '.join(statuses)}",
                      application_status=application.status)


async def accept(*, uow: UnitOfWork, principal: Principal, household_id: uuid.UUID, category: str, person_id: uuid.UUID | None) -> Application:
    """Accept an application (受理) for the household's town; deadlines start (R-DB-9: investigation
    within 3 working days, whole process 30; R-TK-1: investigation 15). Errors: 404, 422
    ``person_required`` / ``unknown_member``, 409 ``application_open``."""
    household = await registry.get_household(uow.session, household_id, principal, lock=True)
    if category in PERSON_CATEGORIES:
        if person_id is None:
            raise Problem(422, "person_required", "this category is decided for one person: give person_id")
        person = await uow.session.get(Person, person_id)
        if person is None or person.household_id != household.id or person.status != "active":
            raise Problem(422, "unknown_member", "person_id is not an active member of this household")
    elif person_id is not None:
        raise Problem(422, "person_not_allowed", "a dibao application concerns the household: omit person_id")
    same_person = Application.person_id.is_(None) if person_id is None else Application.person_id == person_id
    existing = await uow.session.scalar(
        select(Application.id).where(
            Application.household_id == household.id, Application.category == category,
            Application.status.in_(OPEN), same_person,
        )
    )
    if existing is not None:
        raise Problem(409, "application_open", "an application of this category is already open", application_id=str(existing))
    now = uow.now()
    application = Application(
        id=uuid.uuid4(), household_id=household.id, person_id=person_id, town=household.town, category=category,
        status="accepted", accepted_at=now, accepted_by=principal.subject, extended=False, steps=[], updated_at=now,
    )
    _log(uow, application, "accepted", principal.subject)
    uow.session.add(application)
    await uow.session.flush()
    today = local_date(now)
    if category == "tekun":
        await _add_deadline(uow, application, "investigation", today)
    else:
        await _add_deadline(uow, application, "investigation_start", today)
        await _add_deadline(uow, application, "process", today)
    log.info("eligibility.application.accepted", application_id=str(application.id), category=category)
    return application


async def start_investigation(*, uow: UnitOfWork, application: Application, by: str) -> None:
    """The town starts the household investigation (入户调查)."""
    _require(application, "accepted")
    application.status = "investigating"
    application.investigation_started_at = uow.now()
    _log(uow, application, "investigation_started", by)
    await _meet(uow, application, "investigation_start")


async def give_opinion(*, uow: UnitOfWork, application: Application, opinion: str, note: str | None, by: str) -> None:
    """The town's initial opinion (初审意见): approve or refuse."""
    _require(application, "investigating")
    application.status = "opinion_given"
    application.opinion, application.opinion_note = opinion, note
    application.opinion_at = uow.now()
    _log(uow, application, f"opinion_{opinion}", by, note)
    await _meet(uow, application, "investigation")


async def publish_notice(*, uow: UnitOfWork, application: Application, starts_on: date | None, by: str) -> None:
    """Public notice (公示) of ``notice_days`` (7) calendar days for an approve opinion."""
    _require(application, "opinion_given")
    if application.opinion != "approve":
        raise Problem(409, "no_notice_for_refusal", "a proposed refusal is not publicly noticed; submit it to the approver")
    today = local_date(uow.now())
    start = starts_on or today
    if start < today:
        raise Problem(422, "notice_in_past", "the notice cannot start before today")
    params = await parameters_on(uow.session, start)
    days = params.integer("tekun_notice_days" if application.category == "tekun" else "notice_days")
    application.notice_from, application.notice_until = rules.notice_period(start, days)
    application.status = "in_notice"
    _log(uow, application, "notice_published", by, f"{application.notice_from.isoformat()}..{application.notice_until.isoformat()}")


async def submit(*, uow: UnitOfWork, application: Application, by: str) -> None:
    """The file reaches the approver: after the notice ended (or with a refuse opinion); the
    decision deadline starts (10 working days, R-DB-9; tekun confirmation 15, R-TK-1)."""
    today = local_date(uow.now())
    if application.status == "in_notice":
        assert application.notice_until is not None
        if today <= application.notice_until:
            raise Problem(409, "notice_running", f"the public notice runs until {application.notice_until.isoformat()}",
                          notice_until=application.notice_until.isoformat())
    elif not (application.status == "opinion_given" and application.opinion == "refuse"):
        _require(application, "in_notice")
    if await open_objections(uow, application.id):
        raise Problem(409, "objection_open", "an objection raised during the public notice is not resolved yet")
    application.status = "with_approver"
    application.with_approver_at = uow.now()
    _log(uow, application, "submitted_to_approver", by)
    await _add_deadline(uow, application, "decision", today)


async def approve(*, uow: UnitOfWork, principal: Principal, application: Application, note: str | None):
    """Approve (R-DB-7: an approver of the household's own town): the rules decide the amount on
    today's figures and the benefit starts the month after (R-DB-9). 422 ``not_eligible`` (nothing
    stored) when the rules find no benefit — refuse instead."""
    _require(application, "with_approver")
    household = await uow.session.get(Household, application.household_id, with_for_update=True)
    assert household is not None
    today = local_date(uow.now())
    if application.category == "dibao":
        decision, touched = await decisions.apply_dibao(uow=uow, household=household, on=today, kind="approval",
                                                        decided_by=principal.subject, application_id=application.id, note=note)
        granted = decision.outcome in ("eligible", "single_person_inclusion")
    else:
        person = await uow.session.get(Person, application.person_id)
        assert person is not None
        decision, touched = await decisions.apply_person_category(uow=uow, household=household, person=person, category=application.category,
                                                                  on=today, kind="approval", decided_by=principal.subject,
                                                                  application_id=application.id, note=note)
        granted = decision.outcome not in ("not_eligible",)
    if not granted:
        raise Problem(422, "not_eligible", "the rules find the household not eligible on today's figures; refuse the application instead",
                      outcome=decision.outcome, trace=decision.trace)
    application.status = "approved"
    application.decided_at = uow.now()
    _log(uow, application, "approved", principal.subject, note)
    application.decided_by = principal.subject
    application.decision_id = decision.id
    await _meet(uow, application, "decision", "process")
    return decision, touched


async def refuse(*, uow: UnitOfWork, principal: Principal, application: Application, reasons: list[str], note: str | None):
    """Refuse with reasons; the refusal must be notified within 3 working days (R-DB-9)."""
    _require(application, "with_approver")
    return await _refuse(uow=uow, principal=principal, application=application, reasons=reasons, note=note)


async def _refuse(*, uow: UnitOfWork, principal: Principal, application: Application, reasons: list[str], note: str | None,
                  inputs: dict | None = None):  # noqa: ANN202
    household = await uow.session.get(Household, application.household_id)
    assert household is not None
    today = local_date(uow.now())
    rule = "R-DB-9" if application.category != "tekun" else "R-TK-1"
    decision = decisions.new_decision(
        uow, household=household, category=application.category, kind="refusal", outcome="refused", assessed_on=today,
        amount=decisions.Decimal("0.00"), rule_ids=(rule,),
        decided_by=principal.subject, person_id=application.person_id, application_id=application.id, note=note,
        trace={"rules": [rule], "inputs": {"application_id": str(application.id), **(inputs or {})}, "parameters": [], "figures": {},
               "reasons": reasons, "outcome": "refused"},
    )
    application.status = "refused"
    application.refusal_reasons = reasons
    application.decided_at = uow.now()
    _log(uow, application, "refused", principal.subject, note)
    application.decided_by = principal.subject
    application.decision_id = decision.id
    await _meet(uow, application, "decision", "process")
    await _add_deadline(uow, application, "refusal_notice", today)
    return decision


async def notify_refusal(*, uow: UnitOfWork, application: Application, by: str) -> None:
    """The refusal with its reasons was notified to the applicant (R-DB-9: within 3 working days)."""
    _require(application, "refused")
    application.status = "refusal_notified"
    application.refusal_notified_at = uow.now()
    _log(uow, application, "refusal_notified", by)
    await _meet(uow, application, "refusal_notice")


async def extend(*, uow: UnitOfWork, application: Application, reason: str, by: str) -> None:
    """Extend the whole process to 45 working days (R-DB-9)."""
    _require(application, *OPEN)
    if application.extended:
        raise Problem(409, "already_extended", "the application is already extended")
    if application.category == "tekun":
        raise Problem(409, "not_extendable", "R-TK-1 has no extension")
    application.extended = True
    _log(uow, application, "extended", by, reason)
    for row in await deadlines_of(uow, application.id):
        if row.step == "process" and row.met_at is None:
            await uow.session.delete(row)
            await uow.session.flush()
            await _add_deadline(uow, application, "process", local_date(application.accepted_at))


async def withdraw(*, uow: UnitOfWork, application: Application, by: str, reason: str | None = None) -> None:
    """The applicant withdrew; open deadlines close."""
    _require(application, *OPEN)
    application.status = "withdrawn"
    _log(uow, application, "withdrawn", by, reason)
    for row in await deadlines_of(uow, application.id):
        if row.met_at is None:
            row.met_at = uow.now()
    for objection in await open_objections(uow, application.id):
        _close(uow, objection, "superseded", "application withdrawn", by)


# --- objections during the public notice (公示异议) ----------------------------------------------


async def objections_of(uow: UnitOfWork, application_id: uuid.UUID) -> list[ApplicationObjection]:
    """An application's objections in the order they were recorded."""
    return list((await uow.session.scalars(
        select(ApplicationObjection).where(ApplicationObjection.application_id == application_id)
        .order_by(ApplicationObjection.recorded_at, ApplicationObjection.id)
    )).all())


async def open_objections(uow: UnitOfWork, application_id: uuid.UUID) -> list[ApplicationObjection]:
    return [o for o in await objections_of(uow, application_id) if o.status == "open"]


def _close(uow: UnitOfWork, objection: ApplicationObjection, status: str, reason: str, by: str) -> None:
    objection.status, objection.resolution_reason = status, reason
    objection.resolved_by, objection.resolved_at = by, uow.now()


async def record_objection(
    *, uow: UnitOfWork, application: Application, received_on: date | None, objector: str, objector_kind: str,
    channel: str, content: str, by: str,
) -> ApplicationObjection:
    """Record an objection (异议) raised against an application during its public notice (公示,
    R-DB-9 / R-TK-1): received on ``received_on`` (default today) within ``notice_from`` ..
    ``notice_until``, from ``objector`` (a name or "anonymous"), saying ``content``. While it is
    open the file cannot go to the approver (``submit`` → 409 ``objection_open``). Errors: 409
    ``wrong_step`` (not in notice), ``outside_notice``; 422 ``future_date``."""
    _require(application, "in_notice")
    assert application.notice_from is not None and application.notice_until is not None
    today = local_date(uow.now())
    received = received_on or today
    if received > today:
        raise Problem(422, "future_date", "received_on is after today")
    if not application.notice_from <= received <= application.notice_until:
        raise Problem(409, "outside_notice", f"objections are received during the public notice "
                      f"({application.notice_from.isoformat()}..{application.notice_until.isoformat()})",
                      notice_from=application.notice_from.isoformat(), notice_until=application.notice_until.isoformat())
    objection = ApplicationObjection(
        id=uuid.uuid4(), application_id=application.id, town=application.town, received_on=received, objector=objector,
        objector_kind=objector_kind, channel=channel, content=content, recorded_by=by, recorded_at=uow.now(), status="open",
    )
    uow.session.add(objection)
    _log(uow, application, "objection_recorded", by, f"objection {objection.id} ({objector_kind}, {channel}, received {received.isoformat()})")
    await uow.session.flush()
    log.info("eligibility.application.objection_recorded", application_id=str(application.id), objection_id=str(objection.id))
    return objection


async def resolve_objection(
    *, uow: UnitOfWork, principal: Principal, application: Application, objection_id: uuid.UUID, outcome: str, reason: str,
):  # noqa: ANN201 - the refusal Decision or None
    """The town resolves an objection after verifying it: ``dismissed`` → the application
    continues (it goes to the approver once the notice is over and no objection is open);
    ``upheld`` → the application is refused with the reason (a refusal decision with its trace,
    the other open objections closed as ``superseded``, the refusal to be notified within 3
    working days, R-DB-9). Returns the refusal decision (None when dismissed). Errors: 404,
    409 ``objection_resolved``, ``wrong_step``."""
    objection = await uow.session.get(ApplicationObjection, objection_id, with_for_update=True)
    if objection is None or objection.application_id != application.id:
        raise not_found("objection")
    if objection.status != "open":
        raise Problem(409, "objection_resolved", f"the objection is already {objection.status}", objection_status=objection.status)
    _require(application, "in_notice")
    by = principal.subject
    _close(uow, objection, outcome, reason, by)
    _log(uow, application, f"objection_{outcome}", by, f"objection {objection.id}: {reason}")
    log.info("eligibility.application.objection_resolved", application_id=str(application.id), objection_id=str(objection.id), outcome=outcome)
    if outcome == "dismissed":
        return None
    for other in await open_objections(uow, application.id):
        _close(uow, other, "superseded", f"objection {objection.id} upheld", by)
    return await _refuse(uow=uow, principal=principal, application=application, reasons=["objection_upheld", reason],
                         note=reason, inputs={"objection_id": str(objection.id), "objection_received_on": objection.received_on.isoformat()})


async def fire_breached_deadlines(uow_factory, *, batch: int = 200) -> int:  # noqa: ANN001
    """Mark deadlines passed without their step breached (once; SKIP LOCKED) and emit
    ``eligibility.application.deadline_breached``. Returns how many."""
    done = 0
    while True:
        async with uow_factory(None) as uow:
            now: datetime = uow.now()
            rows = (await uow.session.scalars(
                select(ApplicationDeadline)
                .where(ApplicationDeadline.met_at.is_(None), ApplicationDeadline.breached_at.is_(None), ApplicationDeadline.due_at <= now)
                .order_by(ApplicationDeadline.due_at, ApplicationDeadline.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )).all()
            if not rows:
                return done
            for row in rows:
                row.breached_at = now
                application = await uow.session.get(Application, row.application_id)
                assert application is not None
                uow.emit(events.APPLICATION_DEADLINE_BREACHED, events.DeadlineBreachedData(
                    application_id=str(application.id), household_id=str(application.household_id), town=application.town,
                    category=application.category, step=row.step, due_date=row.due_date, provisional=row.provisional,
                ), subject=str(application.id))
                log.warning("eligibility.application.deadline_breached", application_id=str(application.id), step=row.step)
            await uow.commit()
            done += len(rows)
            if len(rows) < batch:
                return done


async def fire_at_risk_deadlines(uow_factory, *, batch: int = 200) -> int:  # noqa: ANN001
    """Warn once per step deadline when ``deadline_warning_working_days`` (1) working days remain
    and the step is not done: claim the due rows (SKIP LOCKED), mark them (``at_risk_fired_at``)
    and emit ``eligibility.application.deadline_at_risk`` in the same transaction. Not sent once
    the deadline itself has passed (the breach is). Returns how many."""
    done = 0
    while True:
        async with uow_factory(None) as uow:
            now: datetime = uow.now()
            rows = (await uow.session.scalars(
                select(ApplicationDeadline)
                .where(ApplicationDeadline.met_at.is_(None), ApplicationDeadline.breached_at.is_(None),
                       ApplicationDeadline.at_risk_fired_at.is_(None), ApplicationDeadline.at_risk_at <= now,
                       ApplicationDeadline.due_at > now)
                .order_by(ApplicationDeadline.at_risk_at, ApplicationDeadline.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )).all()
            if not rows:
                return done
            for row in rows:
                row.at_risk_fired_at = now
                application = await uow.session.get(Application, row.application_id)
                assert application is not None and row.at_risk_at is not None
                uow.emit(events.APPLICATION_DEADLINE_AT_RISK, events.DeadlineAtRiskData(
                    application_id=str(application.id), household_id=str(application.household_id), town=application.town,
                    category=application.category, step=row.step, due_date=row.due_date, due_at=row.due_at,
                    at_risk_at=row.at_risk_at, provisional=row.provisional,
                ), subject=str(application.id))
                log.info("eligibility.application.deadline_at_risk", application_id=str(application.id), step=row.step)
            await uow.commit()
            done += len(rows)
            if len(rows) < batch:
                return done


async def recompute_deadlines(year: int, uow: UnitOfWork) -> None:
    """A calendar year was loaded: recompute the open deadlines whose counting spans it (and
    their warning instants)."""
    calendar = await load_calendar(uow.session)
    rows = (await uow.session.scalars(
        select(ApplicationDeadline).where(ApplicationDeadline.met_at.is_(None), ApplicationDeadline.breached_at.is_(None))
    )).all()
    warnings: dict[date, int] = {}
    for row in rows:
        if row.working_days is None or not (row.starts_on.year <= year <= row.due_date.year + 1):
            continue
        deadline = rules.step_deadline(row.starts_on, row.working_days, calendar)
        row.due_date, row.due_at, row.provisional = deadline.deadline_date, deadline.deadline_at, deadline.provisional
        if row.starts_on not in warnings:
            warnings[row.starts_on] = (await parameters_on(uow.session, row.starts_on)).integer("deadline_warning_working_days")
        row.at_risk_at = rules.warning_instant(row.starts_on, row.working_days, warnings[row.starts_on], calendar)
