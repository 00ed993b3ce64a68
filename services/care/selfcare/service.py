"""Use cases of self-care assessment (R-TK-2) and reassessment after a change (R-TK-1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import ColumnElement, select, tuple_, update

from services.care import events
from services.care.common import cursor_key, ensure_not_future, today
from services.care.emit import emit_many
from services.care.parameters.service import parameters_on
from services.care.persons.models import Person
from services.care.persons.service import ensure_alive, person_ref, visible_person
from services.care.selfcare import rules
from services.care.selfcare.models import Assessment, Reassessment
from shared.auth import Principal
from shared.calendar_store import load_calendar
from shared.db import UnitOfWork
from shared.errors import Problem

log = structlog.get_logger("care.selfcare")

REASSESSMENT_DAYS = "reassessment_working_days"


async def record_assessment(
    *,
    uow: UnitOfWork,
    principal: Principal,
    person_id: uuid.UUID,
    not_achieved: list[str],
    assessed_on: date,
    assessor: str,
    note: str | None,
) -> Assessment:
    """Record an assessment of a tekun person and emit ``care.selfcare.assessed`` (R-TK-2).

    It becomes the person's current level and completes the open reassessment request reported
    on or before ``assessed_on``. Errors: 404 person (or another town's); 409 ``not_tekun``,
    ``person_deceased``, ``assessment_out_of_order`` (before the current level's date); 422
    ``future_date``, ``unknown_item``, ``duplicate_item``.
    """
    person = await visible_person(uow, principal, person_id, for_update=True)
    ensure_alive(person)
    if not person.tekun:
        raise Problem(409, "not_tekun", "Self-care assessment is for tekun persons (特困人员)")
    ensure_not_future(assessed_on, today(uow), "assessed_on")
    if person.level_assessed_on is not None and assessed_on < person.level_assessed_on:
        raise Problem(
            409, "assessment_out_of_order",
            f"The current level was assessed on {person.level_assessed_on.isoformat()}; a new assessment cannot be earlier",
        )
    result = rules.assess(not_achieved)
    open_request = await uow.session.scalar(
        select(Reassessment).where(
            Reassessment.person_id == person.id, Reassessment.status == "open", Reassessment.reported_on <= assessed_on
        ).with_for_update()
    )
    reason = "reassessment" if open_request is not None else ("initial" if person.self_care_level is None else "review")
    assessment = Assessment(
        person_id=person.id, assessed_on=assessed_on, assessor=assessor, not_achieved=list(result.not_achieved),
        level=result.level, previous_level=person.self_care_level, reason=reason, note=note,
        recorded_by=principal.subject, recorded_at=uow.now(),
    )
    uow.session.add(assessment)
    await uow.session.flush()
    if open_request is not None:
        open_request.status = "done"
        open_request.assessment_id = assessment.id
        open_request.closed_on = assessed_on
    person.self_care_level = result.level
    person.level_assessed_on = assessed_on
    uow.emit(
        events.SELFCARE_ASSESSED,
        events.SelfCareAssessed(
            **person_ref(person), assessment_id=str(assessment.id), level=result.level,
            previous_level=assessment.previous_level, assessed_on=assessed_on, reason=reason,
        ),
        subject=str(assessment.id),
    )
    log.info("care.selfcare.assessed", assessment_id=str(assessment.id), level=result.level, reason=reason)
    return assessment


async def list_assessments(uow: UnitOfWork, principal: Principal, person_id: uuid.UUID) -> list[Assessment]:
    """A person's assessments, newest first."""
    person = await visible_person(uow, principal, person_id)
    rows = await uow.session.scalars(
        select(Assessment).where(Assessment.person_id == person.id).order_by(Assessment.assessed_on.desc(), Assessment.recorded_at.desc())
    )
    return list(rows.all())


async def open_reassessment(
    uow: UnitOfWork, person: Person, *, reported_on: date, source: str, description: str | None, created_by: str
) -> Reassessment:
    """Open the reassessment of a reported change of ability, due ``reassessment_working_days``
    working days after ``reported_on`` (R-TK-1). The open request of the person is returned
    unchanged when there is one."""
    existing = await uow.session.scalar(
        select(Reassessment).where(Reassessment.person_id == person.id, Reassessment.status == "open")
    )
    if existing is not None:
        return existing
    params = await parameters_on(uow, reported_on, [REASSESSMENT_DAYS])
    working_days = params.get_int(REASSESSMENT_DAYS)
    deadline = rules.reassessment_deadline(reported_on, working_days, await load_calendar(uow.session))
    request = Reassessment(
        person_id=person.id, town=person.town, reported_on=reported_on, source=source, description=description,
        working_days=working_days, parameter_version_id=params.version_id(REASSESSMENT_DAYS),
        due_on=deadline.deadline_date, deadline_at=deadline.deadline_at, provisional=deadline.provisional,
        status="open", created_by=created_by, created_at=uow.now(),
    )
    uow.session.add(request)
    await uow.session.flush()
    log.info("care.reassessment.opened", reassessment_id=str(request.id), due_on=request.due_on.isoformat())
    return request


async def report_ability_change(
    *, uow: UnitOfWork, principal: Principal, person_id: uuid.UUID, reported_on: date | None, description: str | None
) -> tuple[Reassessment, bool]:
    """A change of a tekun person's self-care ability is reported: open its reassessment
    (R-TK-1). Returns (request, created); an already open request is returned with False.
    Errors: 404; 409 ``not_tekun``, ``person_deceased``; 422 ``future_date``."""
    person = await visible_person(uow, principal, person_id, for_update=True)
    ensure_alive(person)
    if not person.tekun:
        raise Problem(409, "not_tekun", "Self-care reassessment is for tekun persons (特困人员)")
    on = reported_on or today(uow)
    ensure_not_future(on, today(uow), "reported_on")
    before = await uow.session.scalar(
        select(Reassessment.id).where(Reassessment.person_id == person.id, Reassessment.status == "open")
    )
    request = await open_reassessment(
        uow, person, reported_on=on, source="staff", description=description, created_by=principal.subject
    )
    return request, before is None


async def cancel_reassessments(uow: UnitOfWork, person_id: uuid.UUID, on: date) -> None:
    """Close a person's open reassessment without assessment (death, end of tekun support)."""
    await uow.session.execute(
        update(Reassessment)
        .where(Reassessment.person_id == person_id, Reassessment.status == "open")
        .values(status="cancelled", closed_on=on)
    )


async def sweep_overdue_reassessments(uow: UnitOfWork, *, batch: int) -> int:
    """Claim open reassessments whose deadline has passed and not yet reported, mark them
    (fired-once marker ``overdue_fired_at``) and emit ``care.reassessment.overdue`` — in one
    transaction, rows claimed with FOR UPDATE SKIP LOCKED so concurrent sweepers never double-fire.
    Returns the number fired (the caller commits)."""
    now = uow.now()
    claimed = (
        select(Reassessment.id)
        .where(Reassessment.status == "open", Reassessment.overdue_fired_at.is_(None), Reassessment.deadline_at <= now)
        .order_by(Reassessment.deadline_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = (
        await uow.session.execute(
            update(Reassessment)
            .where(Reassessment.id.in_(claimed))
            .values(overdue_fired_at=now)
            .returning(
                Reassessment.id, Reassessment.person_id, Reassessment.reported_on, Reassessment.due_on,
                Reassessment.deadline_at,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not rows:
        return 0
    persons = {
        p.id: p for p in (await uow.session.scalars(select(Person).where(Person.id.in_([r.person_id for r in rows])))).all()
    }
    await emit_many(
        uow,
        events.REASSESSMENT_OVERDUE,
        [
            (
                str(r.id),
                events.ReassessmentOverdue(
                    **person_ref(persons[r.person_id]), reassessment_id=str(r.id), reported_on=r.reported_on,
                    due_on=r.due_on, deadline_at=r.deadline_at,
                ),
            )
            for r in rows
        ],
    )
    log.info("care.reassessment.overdue", count=len(rows))
    return len(rows)


async def recompute_deadlines(year: int, uow: UnitOfWork) -> None:
    """A calendar year was loaded: open reassessments whose counting spans it get new deadlines."""
    calendar = await load_calendar(uow.session)
    rows = (
        await uow.session.scalars(
            select(Reassessment).where(Reassessment.status == "open", Reassessment.overdue_fired_at.is_(None)).with_for_update()
        )
    ).all()
    for request in rows:
        if request.reported_on.year <= year <= request.due_on.year + 1:
            deadline = rules.reassessment_deadline(request.reported_on, request.working_days, calendar)
            request.due_on = deadline.deadline_date
            request.deadline_at = deadline.deadline_at
            request.provisional = deadline.provisional


async def list_reassessments(
    uow: UnitOfWork, *, scope: list[ColumnElement[bool]], status: str | None, after: list[Any] | None, limit: int
) -> list[Reassessment]:
    """Reassessment requests by deadline, limited by ``scope`` (the caller's WHERE clauses, see
    :func:`~services.care.common.scope_clauses`); ``status="overdue"`` = open past the deadline.
    422 ``invalid_cursor``."""
    query = select(Reassessment).where(*scope).order_by(Reassessment.deadline_at, Reassessment.id).limit(limit + 1)
    if status == "overdue":
        query = query.where(Reassessment.status == "open", Reassessment.deadline_at <= uow.now())
    elif status is not None:
        query = query.where(Reassessment.status == status)
    key = cursor_key(after, datetime.fromisoformat, uuid.UUID)
    if key is not None:
        query = query.where(tuple_(Reassessment.deadline_at, Reassessment.id) > tuple_(*key))
    return list((await uow.session.scalars(query)).all())
