"""Use cases of the 505 guardianship visits (R-LB-2, R-EP-1): volunteers, plans, visits, the
overdue sweep, each visitor's due list, and follow-up referrals."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, func, or_, select, text, tuple_, update

from services.care import events
from services.care.common import READ_ROLES, WRITE_ROLES, can_see, ensure_not_future, today, town_filter, village_filter
from services.care.parameters.catalogue import visit_interval_key
from services.care.parameters.service import parameters_on
from services.care.persons.models import Person
from services.care.persons.service import ensure_alive, load_person, person_ref, visible_person
from services.care.selfcare.service import open_reassessment
from services.care.visits import rules
from services.care.visits.models import Referral, Visit, VisitPlan, Volunteer
from services.care.visits.schemas import FollowUp, VolunteerIn, VolunteerPatch
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.events.envelope import new_event

log = structlog.get_logger("care.visits")

# --- volunteers ------------------------------------------------------------------------------


async def create_volunteer(*, uow: UnitOfWork, principal: Principal, data: VolunteerIn) -> Volunteer:
    """Register a volunteer or care worker of a town. 409 ``volunteer_exists`` for a known sub."""
    principal.ensure_town(data.town, "town")
    if await uow.session.scalar(select(Volunteer.id).where(Volunteer.sub == data.sub)) is not None:
        raise Problem(409, "volunteer_exists", "This user is already registered as a volunteer")
    volunteer = Volunteer(**data.model_dump(), active=True, created_at=uow.now())
    uow.session.add(volunteer)
    await uow.session.flush()
    return volunteer


def volunteer_scope(principal: Principal, town: str | None) -> list[ColumnElement[bool]]:
    """WHERE clauses limiting a list of volunteers to what ``principal`` may see: town staff their
    town's (404 for another town asked for, see :func:`~services.care.common.town_filter`).

    A volunteer is a town-level person with no village of their own, so a village officer sees
    the volunteers of its town paired with a visit plan (active or ended) of a person of its
    village: those who visit, or visited, its villagers — and not the town's other volunteers."""
    clauses: list[ColumnElement[bool]] = []
    scoped = town_filter(principal, town)
    if scoped is not None:
        clauses.append(Volunteer.town == scoped)
    village = village_filter(principal)
    if village is not None:
        clauses.append(
            select(VisitPlan.id).where(VisitPlan.volunteer_id == Volunteer.id, VisitPlan.village == village).exists()
        )
    return clauses


async def visible_volunteer(uow: UnitOfWork, principal: Principal, volunteer_id: uuid.UUID, *, for_update: bool = False) -> Volunteer:
    """The volunteer if ``principal`` may see it (:func:`volunteer_scope`: its town's staff; a
    village officer only one paired with a plan of its village); otherwise 404 (R-DB-7)."""
    volunteer = await uow.session.get(Volunteer, volunteer_id, with_for_update=for_update)
    if volunteer is None:
        raise not_found("volunteer")
    principal.ensure_town(volunteer.town, "volunteer")
    village = village_filter(principal)
    if village is not None and await uow.session.scalar(
        select(VisitPlan.id).where(VisitPlan.volunteer_id == volunteer.id, VisitPlan.village == village).limit(1)
    ) is None:
        raise not_found("volunteer")
    return volunteer


async def update_volunteer(*, uow: UnitOfWork, principal: Principal, volunteer_id: uuid.UUID, patch: VolunteerPatch) -> Volunteer:
    volunteer = await visible_volunteer(uow, principal, volunteer_id, for_update=True)
    for key, value in patch.model_dump(exclude_unset=True).items():
        setattr(volunteer, key, value)
    return volunteer


async def _pairable(uow: UnitOfWork, principal: Principal, volunteer_id: uuid.UUID, person: Person) -> Volunteer:
    volunteer = await uow.session.get(Volunteer, volunteer_id)
    if volunteer is None or not principal.can_see_town(volunteer.town):
        raise Problem(422, "unknown_volunteer", "No such volunteer",
                      errors=[{"field": "volunteer_id", "code": "unknown_volunteer", "message": "unknown volunteer"}])
    if not volunteer.active:
        raise Problem(409, "volunteer_inactive", "The volunteer is not active")
    if volunteer.town != person.town:
        raise Problem(422, "volunteer_other_town", "The volunteer serves another town",
                      errors=[{"field": "volunteer_id", "code": "volunteer_other_town", "message": "volunteer of another town"}])
    return volunteer


# --- plans -----------------------------------------------------------------------------------


async def create_plan(
    *, uow: UnitOfWork, principal: Principal, person_id: uuid.UUID, category: str, volunteer_id: uuid.UUID,
    starts_on: date | None,
) -> VisitPlan:
    """A visit plan with the category's frequency in force on ``starts_on`` (R-LB-2); the first
    visit is due that many days after the start. 404 person; 409 ``plan_exists``,
    ``person_deceased``, ``volunteer_inactive``; 422 ``unknown_volunteer``,
    ``volunteer_other_town``, ``future_date``."""
    person = await visible_person(uow, principal, person_id, for_update=True)
    ensure_alive(person)
    volunteer = await _pairable(uow, principal, volunteer_id, person)
    on = starts_on or today(uow)
    ensure_not_future(on, today(uow), "starts_on")
    if await uow.session.scalar(
        select(VisitPlan.id).where(VisitPlan.person_id == person.id, VisitPlan.category == category, VisitPlan.status == "active")
    ) is not None:
        raise Problem(409, "plan_exists", "The person already has an active plan of this category")
    key = visit_interval_key(category)
    params = await parameters_on(uow, on, [key])
    interval = params.get_int(key)
    plan = VisitPlan(
        person_id=person.id, category=category, town=person.town, village=person.village, volunteer_id=volunteer.id,
        interval_days=interval, parameter_version_id=params.version_id(key), starts_on=on,
        next_due=rules.first_due(on, interval), status="active", overdue_count=0,
        created_by=principal.subject, created_at=uow.now(),
    )
    uow.session.add(plan)
    await uow.session.flush()
    log.info("care.visit_plan.created", plan_id=str(plan.id), category=category)
    return plan


async def visible_plan(uow: UnitOfWork, principal: Principal, plan_id: uuid.UUID, *, for_update: bool = False) -> VisitPlan:
    """The plan if ``principal`` may see it: staff of its town (a village officer: of its
    village), or its paired visitor (volunteer or care worker); otherwise 404."""
    plan = await uow.session.get(VisitPlan, plan_id, with_for_update=for_update)
    if plan is None:
        raise not_found("visit plan")
    if principal.district_wide:
        return plan
    if await is_paired_visitor(uow, principal, plan):
        return plan
    if principal.has_role(*READ_ROLES) and can_see(principal, plan.town, plan.village):
        return plan
    raise not_found("visit plan")


async def is_paired_visitor(uow: UnitOfWork, principal: Principal, plan: VisitPlan) -> bool:
    if plan.volunteer_id is None:
        return False
    sub = await uow.session.scalar(select(Volunteer.sub).where(Volunteer.id == plan.volunteer_id))
    return sub == principal.subject


async def pair(*, uow: UnitOfWork, principal: Principal, plan_id: uuid.UUID, volunteer_id: uuid.UUID) -> VisitPlan:
    """Pair the plan with another volunteer (staff). 409 ``plan_ended``; 422 as for a new plan."""
    plan = await visible_plan(uow, principal, plan_id, for_update=True)
    _ensure_staff(principal)
    if plan.status != "active":
        raise Problem(409, "plan_ended", "The plan has ended")
    person = await load_person(uow, plan.person_id)
    volunteer = await _pairable(uow, principal, volunteer_id, person)
    plan.volunteer_id = volunteer.id
    return plan


def _ensure_staff(principal: Principal) -> None:
    if not principal.has_role(*WRITE_ROLES):
        raise Problem(403, "forbidden", "Your role may not do this")


async def end_plan(*, uow: UnitOfWork, principal: Principal, plan_id: uuid.UUID, ended_on: date, reason: str) -> VisitPlan:
    """End a plan. 409 ``plan_ended``; 422 ``future_date``."""
    plan = await visible_plan(uow, principal, plan_id, for_update=True)
    _ensure_staff(principal)
    if plan.status != "active":
        raise Problem(409, "plan_ended", "The plan has ended")
    ensure_not_future(ended_on, today(uow), "ended_on")
    plan.status, plan.ended_on, plan.end_reason = "ended", ended_on, reason
    return plan


async def end_plans_of(uow: UnitOfWork, person_id: uuid.UUID, on: date, reason: str) -> None:
    """End every active plan of a person (death)."""
    await uow.session.execute(
        update(VisitPlan)
        .where(VisitPlan.person_id == person_id, VisitPlan.status == "active")
        .values(status="ended", ended_on=on, end_reason=reason)
    )


async def list_plans(
    uow: UnitOfWork, *, scope: list[ColumnElement], volunteer_id: uuid.UUID | None, person_id: uuid.UUID | None,
    overdue: bool | None, on: date, limit: int, after: tuple[Any, ...] | None,
) -> list[VisitPlan]:
    """Plans by due date within ``scope`` (the caller's clauses from ``common.scope_clauses``)."""
    query = select(VisitPlan).order_by(VisitPlan.next_due, VisitPlan.id).limit(limit + 1).where(*scope)
    if volunteer_id is not None:
        query = query.where(VisitPlan.volunteer_id == volunteer_id)
    if person_id is not None:
        query = query.where(VisitPlan.person_id == person_id)
    if overdue is True:
        query = query.where(VisitPlan.status == "active", VisitPlan.next_due < on)
    elif overdue is False:
        query = query.where(VisitPlan.status == "active", VisitPlan.next_due >= on)
    if after is not None:
        query = query.where(or_(VisitPlan.next_due > after[0], and_(VisitPlan.next_due == after[0], VisitPlan.id > after[1])))
    return list((await uow.session.scalars(query)).all())


# --- visits ----------------------------------------------------------------------------------


async def record_visit(
    *, uow: UnitOfWork, principal: Principal, plan_id: uuid.UUID, visited_on: date, method: str, findings: str,
    referral: FollowUp | None, ability_changed: bool,
) -> tuple[Visit, Referral | None, Any]:
    """Record a visit under a plan, by its paired visitor or town staff (R-LB-2, R-EP-1).

    The next visit is due the category's interval (in force on ``visited_on``) after it; the
    overdue marker is cleared. Emits ``care.visit.recorded``; a referral emits
    ``care.referral.created``; ``ability_changed`` opens a tekun person's reassessment (R-TK-1).
    Errors: 404 plan (or not paired / another town); 409 ``plan_ended``, ``person_deceased``,
    ``visit_out_of_order`` (before the last visit); 422 ``future_date``, ``before_plan_start``.
    """
    plan = await visible_plan(uow, principal, plan_id, for_update=True)
    if plan.status != "active":
        raise Problem(409, "plan_ended", "The plan has ended")
    person = await load_person(uow, plan.person_id, for_update=True)
    ensure_alive(person)
    ensure_not_future(visited_on, today(uow), "visited_on")
    if visited_on < plan.starts_on:
        raise Problem(422, "before_plan_start", "visited_on is before the plan started",
                      errors=[{"field": "visited_on", "code": "before_plan_start", "message": "before the plan's start"}])
    if plan.last_visit_on is not None and visited_on < plan.last_visit_on:
        raise Problem(409, "visit_out_of_order", "A later visit is already recorded")
    visitor = await uow.session.scalar(select(Volunteer).where(Volunteer.sub == principal.subject))
    due_on = plan.next_due
    visit = Visit(
        plan_id=plan.id, person_id=person.id, town=plan.town, visited_on=visited_on, method=method, findings=findings,
        due_on=due_on, on_time=rules.on_time(visited_on, due_on), visited_by=principal.subject,
        volunteer_id=visitor.id if visitor is not None else None, recorded_at=uow.now(),
    )
    uow.session.add(visit)
    await uow.session.flush()
    key = visit_interval_key(plan.category)
    params = await parameters_on(uow, visited_on, [key])
    plan.interval_days = params.get_int(key)
    plan.parameter_version_id = params.version_id(key)
    plan.last_visit_on = visited_on
    plan.next_due = rules.due_after(visited_on, plan.interval_days)
    plan.overdue_fired_at = None
    uow.emit(
        events.VISIT_RECORDED,
        events.VisitRecorded(
            **person_ref(person), visit_id=str(visit.id), plan_id=str(plan.id), category=plan.category,
            visited_on=visited_on, method=method, due_on=due_on, on_time=visit.on_time,  # type: ignore[arg-type]
        ),
        subject=str(visit.id),
    )
    created_referral = None
    if referral is not None:
        created_referral = await create_referral(
            uow=uow, person=person, to=referral.to, reason=referral.reason, note=referral.note, visit_id=visit.id,
            created_by=principal.subject,
        )
    reassessment = None
    if ability_changed and person.tekun:
        reassessment = await open_reassessment(
            uow, person, reported_on=visited_on, source="visit", description=None, created_by=principal.subject
        )
    log.info("care.visit.recorded", visit_id=str(visit.id), on_time=visit.on_time, method=method)
    return visit, created_referral, reassessment


async def create_referral(
    *, uow: UnitOfWork, person: Person, to: str, reason: str, note: str | None, visit_id: uuid.UUID | None, created_by: str
) -> Referral:
    """Refer a person to relief or eligibility and emit ``care.referral.created``. The person's
    name and ID number travel only when the registry does not know the person."""
    referral = Referral(
        visit_id=visit_id, person_id=person.id, town=person.town, to=to, reason=reason, note=note,
        created_by=created_by, created_at=uow.now(),
    )
    uow.session.add(referral)
    await uow.session.flush()
    unknown_to_registry = person.eligibility_person_id is None
    uow.emit(
        events.REFERRAL_CREATED,
        events.ReferralCreated(
            **person_ref(person), referral_id=str(referral.id), to=to, reason=reason,  # type: ignore[arg-type]
            visit_id=str(visit_id) if visit_id else None, village=person.village,
            name=person.name if unknown_to_registry else None,
            id_number=person.id_number if unknown_to_registry else None,
        ),
        subject=str(referral.id),
    )
    log.info("care.referral.created", referral_id=str(referral.id), to=to, reason=reason)
    return referral


async def list_visits(
    uow: UnitOfWork, plan_id: uuid.UUID, *, limit: int, after: tuple[Any, ...] | None
) -> list[Visit]:
    """At most ``limit + 1`` visits of a plan, newest first; keyset ``after`` =
    (visited_on, recorded_at, id) of the last visit of the previous page (ids break ties)."""
    query = select(Visit).where(Visit.plan_id == plan_id)
    if after is not None:
        query = query.where(tuple_(Visit.visited_on, Visit.recorded_at, Visit.id) < tuple_(*after))
    query = query.order_by(Visit.visited_on.desc(), Visit.recorded_at.desc(), Visit.id.desc()).limit(limit + 1)
    return list((await uow.session.scalars(query)).all())


# --- a visitor's own list (mobile app) -------------------------------------------------------


async def visits_due(
    uow: UnitOfWork, *, sub: str, on: date, within_days: int, limit: int, after: tuple[Any, ...] | None
) -> list[dict[str, Any]]:
    """The active plans paired with visitor ``sub`` due by ``on + within_days`` (overdue ones
    first, as they are due earliest), by due date: one query on the (volunteer, next_due) index."""
    until = on + timedelta(days=within_days)
    query = (
        select(
            VisitPlan.id, VisitPlan.person_id, VisitPlan.town, VisitPlan.village, VisitPlan.category,
            VisitPlan.next_due, VisitPlan.last_visit_on, Person.name,
        )
        .join(Volunteer, Volunteer.id == VisitPlan.volunteer_id)
        .join(Person, Person.id == VisitPlan.person_id)
        .where(Volunteer.sub == sub, VisitPlan.status == "active", VisitPlan.next_due <= until)
        .order_by(VisitPlan.next_due, VisitPlan.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(or_(VisitPlan.next_due > after[0], and_(VisitPlan.next_due == after[0], VisitPlan.id > after[1])))
    return [
        {
            "plan_id": r.id, "person_id": r.person_id, "name": r.name, "town": r.town, "village": r.village,
            "category": r.category, "next_due": r.next_due, "overdue": rules.is_overdue(r.next_due, on),
            "last_visit_on": r.last_visit_on,
        }
        for r in (await uow.session.execute(query)).all()
    ]


# --- the overdue sweep ----------------------------------------------------------------------

# One statement per batch: claim (partial index ``ix_visit_plans_overdue_claim``, FOR UPDATE SKIP
# LOCKED, so concurrent sweepers take disjoint rows), set the fired-once marker, and stage one
# ``care.visit.overdue`` per plan in the outbox. The envelope is the shared one built in Python
# (``:envelope``: specversion, source, type, time, correlation id) with the id, subject and data
# filled in per row; its data are exactly ``events.VisitOverdue`` (a test checks the parity).
_SWEEP_SQL = text(
    """
    WITH claimed AS (
        SELECT id FROM visit_plans
        WHERE status = 'active' AND overdue_fired_at IS NULL AND next_due < :today
        ORDER BY next_due
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    ), fired AS (
        UPDATE visit_plans AS p
        SET overdue_fired_at = :now, overdue_count = p.overdue_count + 1
        FROM claimed
        WHERE p.id = claimed.id
        RETURNING p.id, p.person_id, p.category, p.next_due, p.volunteer_id
    ), rows AS (
        SELECT gen_random_uuid()::text AS event_id, f.*, pe.eligibility_person_id, pe.household_id, pe.town
        FROM fired f JOIN persons pe ON pe.id = f.person_id
    ), staged AS (
        INSERT INTO outbox_events (event_id, event_type, envelope)
        SELECT r.event_id, :event_type,
               CAST(:envelope AS jsonb) || jsonb_build_object(
                   'id', r.event_id,
                   'subject', r.id::text,
                   'data', jsonb_build_object(
                       'care_person_id', r.person_id::text,
                       'person_id', r.eligibility_person_id,
                       'household_id', r.household_id,
                       'town', r.town,
                       'plan_id', r.id::text,
                       'category', r.category,
                       'due_on', to_char(r.next_due, 'YYYY-MM-DD'),
                       'volunteer_id', r.volunteer_id::text,
                       'rule', CAST(:rule AS text)))
        FROM rows r
        RETURNING 1
    )
    SELECT count(*) FROM staged
    """
)


async def sweep_overdue_visits(uow: UnitOfWork, *, batch: int) -> int:
    """R-LB-2: fire ``care.visit.overdue`` once for each active plan whose due day has passed
    without a visit — up to ``batch`` plans, in one set-based statement (claim with FOR UPDATE
    SKIP LOCKED on the partial index, fired-once marker, multi-row outbox insert; see
    ``_SWEEP_SQL``). Returns the number fired; the caller commits (the relay's next poll
    publishes them) and calls again while a full batch came back."""
    template = new_event(
        events.VISIT_OVERDUE, {}, source=uow.source, time=uow.now(), correlation_id=uow.correlation_id
    ).model_dump(mode="json", exclude_none=True)
    template.pop("data"), template.pop("id")
    fired = await uow.session.scalar(
        _SWEEP_SQL,
        {
            "today": today(uow), "now": uow.now(), "batch": batch, "event_type": events.VISIT_OVERDUE,
            "envelope": json.dumps(template), "rule": events.VisitOverdue.model_fields["rule"].default,
        },
    )
    if fired:
        log.info("care.visit.overdue", count=fired)
    return int(fired or 0)


# --- KPI ------------------------------------------------------------------------------------


async def visits_kpi(uow: UnitOfWork, *, year: int, town: str | None) -> dict[str, Any]:
    """R-LB-2 "visits on time" for ``year`` as of today (or the year's end): visits whose due date
    fell in the year, on time or late, plus active plans whose due date in the year passed
    unvisited."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    as_of = min(end, today(uow))
    visit_q = select(Visit.on_time, func.count()).where(Visit.due_on.between(start, end)).group_by(Visit.on_time)
    missed_q = select(func.count()).select_from(VisitPlan).where(
        VisitPlan.status == "active", VisitPlan.next_due >= start, VisitPlan.next_due < as_of
    )
    if town is not None:
        visit_q = visit_q.where(Visit.town == town)
        missed_q = missed_q.where(VisitPlan.town == town)
    counts = dict((await uow.session.execute(visit_q)).all())
    missed = int(await uow.session.scalar(missed_q) or 0)
    on_time, late = int(counts.get(True, 0)), int(counts.get(False, 0))
    rate = rules.on_time_rate(on_time, late, missed)
    return {
        "year": year, "as_of": as_of, "town": town, "on_time": on_time, "late": late, "missed": missed,
        "rate": None if rate is None else format(rate, "f"),
    }
