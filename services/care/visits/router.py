"""Visit endpoints (R-LB-2, R-EP-1): volunteers, plans, visits, each visitor's due list, referrals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select, tuple_

from services.care.common import (
    READ_ROLES,
    VISITOR_ROLES,
    WRITE_ROLES,
    cursor_key,
    parse_uuid,
    scope_clauses,
    today,
    town_filter,
)
from services.care.persons.models import Person
from services.care.persons.service import audit
from services.care.visits import rules
from services.care.visits.models import Referral, VisitPlan, Volunteer
from services.care.visits.schemas import (
    DueOut,
    EndPlanIn,
    PairIn,
    PlanIn,
    PlanOut,
    ReferralOut,
    VisitIn,
    VisitOut,
    VisitsKpiOut,
    VolunteerIn,
    VolunteerOut,
    VolunteerPatch,
)
from services.care.visits.service import (
    create_plan,
    create_volunteer,
    end_plan,
    list_plans,
    list_visits,
    pair,
    record_visit,
    update_volunteer,
    visible_plan,
    visible_volunteer,
    visits_due,
    visits_kpi,
    volunteer_scope,
)
from shared.app import get_uow
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/care", tags=["visits"])


def _plan_out(plan: VisitPlan, on: date) -> PlanOut:
    out = PlanOut.model_validate(plan)
    out.overdue = plan.status == "active" and rules.is_overdue(plan.next_due, on)
    return out


# --- volunteers ------------------------------------------------------------------------------


@router.post("/volunteers", response_model=VolunteerOut, status_code=201)
async def post_volunteer(
    body: VolunteerIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*WRITE_ROLES))
) -> VolunteerOut:
    """Register a 505 volunteer (505志愿守护队伍) or care worker of a town; ``sub`` is the user's
    token subject at the gateway. 409 ``volunteer_exists``."""
    async with uow:
        volunteer = await create_volunteer(uow=uow, principal=principal, data=body)
        out = VolunteerOut.model_validate(volunteer)
        await uow.commit()
    return out


@router.get("/volunteers", response_model=Page[VolunteerOut])
async def get_volunteers(
    town: str | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[VolunteerOut]:
    """Volunteers and care workers by id: a town sees its own; a village officer (volunteers have
    no village) those of its town paired with a visit plan, active or ended, of its village. 404
    another town (town staff); 422 ``invalid_cursor``."""
    async with uow:
        query = select(Volunteer).order_by(Volunteer.id).limit(page.limit + 1)
        query = query.where(*volunteer_scope(principal, town))
        key = cursor_key(page.after, uuid.UUID)
        if key is not None:
            query = query.where(Volunteer.id > key[0])
        rows = [VolunteerOut.model_validate(v) for v in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda v: [str(v.id)])


@router.patch("/volunteers/{volunteer_id}", response_model=VolunteerOut)
async def patch_volunteer(
    volunteer_id: str,
    body: VolunteerPatch,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> VolunteerOut:
    async with uow:
        volunteer = await update_volunteer(
            uow=uow, principal=principal, volunteer_id=parse_uuid(volunteer_id, "volunteer"), patch=body
        )
        out = VolunteerOut.model_validate(volunteer)
        await uow.commit()
    return out


@router.get("/volunteers/{volunteer_id}", response_model=VolunteerOut)
async def get_volunteer(
    volunteer_id: str, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READ_ROLES))
) -> VolunteerOut:
    """A volunteer or care worker. 404 unknown, another town's, or (village officer) one not
    paired with a visit plan of its village."""
    async with uow:
        return VolunteerOut.model_validate(await visible_volunteer(uow, principal, parse_uuid(volunteer_id, "volunteer")))


# --- plans -----------------------------------------------------------------------------------


@router.post("/visit-plans", response_model=PlanOut, status_code=201)
async def post_plan(
    body: PlanIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*WRITE_ROLES))
) -> PlanOut:
    """A visit plan (R-LB-2) for a person of a category (``left_behind_child``,
    ``left_behind_elderly``, ``left_behind_woman``, ``dependent_elderly``,
    ``mental_disorder_family``), paired with a volunteer of the person's town. The frequency
    (days) is the category's parameter in force on ``starts_on``; the first visit is due that
    many days later. 409 ``plan_exists``, ``person_deceased``, ``volunteer_inactive``; 422
    ``unknown_volunteer``, ``volunteer_other_town``, ``future_date``."""
    async with uow:
        plan = await create_plan(
            uow=uow, principal=principal, person_id=body.person_id, category=body.category,
            volunteer_id=body.volunteer_id, starts_on=body.starts_on,
        )
        out = _plan_out(plan, today(uow))
        await uow.commit()
    return out


@router.get("/visit-plans", response_model=Page[PlanOut])
async def get_plans(
    town: str | None = Query(None),
    volunteer_id: uuid.UUID | None = Query(None),
    person_id: uuid.UUID | None = Query(None),
    overdue: bool | None = Query(None, description="true: active plans past their due date"),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[PlanOut]:
    """Visit plans by due date (a town sees its own, a village officer its village's)."""
    async with uow:
        on = today(uow)
        rows = await list_plans(
            uow, scope=scope_clauses(principal, town, VisitPlan.town, VisitPlan.village), volunteer_id=volunteer_id,
            person_id=person_id, overdue=overdue, on=on, limit=page.limit, after=cursor_key(page.after, date.fromisoformat, uuid.UUID),
        )
        items = [_plan_out(p, on) for p in rows]
    return make_page(items, page.limit, key=lambda p: [p.next_due.isoformat(), str(p.id)])


@router.get("/visit-plans/{plan_id}", response_model=PlanOut)
async def get_plan(
    plan_id: str,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES, *VISITOR_ROLES)),
) -> PlanOut:
    """A plan: to staff of its town, or to its paired visitor (else 404)."""
    async with uow:
        plan = await visible_plan(uow, principal, parse_uuid(plan_id, "visit plan"))
        return _plan_out(plan, today(uow))


@router.put("/visit-plans/{plan_id}/volunteer", response_model=PlanOut)
async def put_volunteer(
    plan_id: str,
    body: PairIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> PlanOut:
    """Pair the plan with another volunteer of the person's town."""
    async with uow:
        plan = await pair(uow=uow, principal=principal, plan_id=parse_uuid(plan_id, "visit plan"), volunteer_id=body.volunteer_id)
        out = _plan_out(plan, today(uow))
        await uow.commit()
    return out


@router.post("/visit-plans/{plan_id}:end", response_model=PlanOut)
async def post_end_plan(
    plan_id: str,
    body: EndPlanIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> PlanOut:
    async with uow:
        plan = await end_plan(
            uow=uow, principal=principal, plan_id=parse_uuid(plan_id, "visit plan"), ended_on=body.ended_on, reason=body.reason
        )
        out = _plan_out(plan, today(uow))
        await uow.commit()
    return out


# --- visits ----------------------------------------------------------------------------------


@router.post("/visit-plans/{plan_id}/visits", response_model=VisitOut, status_code=201)
async def post_visit(
    plan_id: str,
    body: VisitIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES, *VISITOR_ROLES)),
):
    """Record a visit or check (R-EP-1 ``method``: phone, wechat, home_visit) with its findings,
    by the plan's paired visitor or town staff (R-LB-2). The next visit is due the category's
    interval after it. ``referral`` refers the person to relief or eligibility (event
    ``care.referral.created``); ``ability_changed`` opens a tekun person's reassessment.
    Accepts ``Idempotency-Key`` (the mobile app retries). 404 plan not visible; 409
    ``plan_ended``, ``visit_out_of_order``, ``person_deceased``; 422 ``future_date``,
    ``before_plan_start``, ``unknown_reason``."""
    pid = parse_uuid(plan_id, "visit plan")
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:visit-plans/{pid}/visits", payload=body.model_dump(mode="json"))
    async with uow:
        replayed = await idem.replay(uow.session)
        if replayed is not None:
            return JSONResponse(replayed[1], status_code=replayed[0])
        visit, referral, reassessment = await record_visit(
            uow=uow, principal=principal, plan_id=pid, visited_on=body.visited_on, method=body.method,
            findings=body.findings, referral=body.referral, ability_changed=body.ability_changed,
        )
        out = VisitOut.model_validate(visit)
        out.referral_id = referral.id if referral else None
        out.reassessment_id = reassessment.id if reassessment else None
        plan = await visible_plan(uow, principal, pid)
        out.next_due = plan.next_due
        idem.record(uow.session, 201, out.model_dump(mode="json"))
        await uow.commit()
    return out


@router.get("/visit-plans/{plan_id}/visits", response_model=Page[VisitOut])
async def get_visits(
    plan_id: str,
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES, *VISITOR_ROLES)),
) -> Page[VisitOut]:
    """The visits of a plan, newest first (visit date, then when recorded), a page
    ``{items, next_cursor}`` (staff of its town or its paired visitor; audited). 404 for a plan
    the caller may not see; 422 ``invalid_id``, ``invalid_cursor``."""
    async with uow:
        plan = await visible_plan(uow, principal, parse_uuid(plan_id, "visit plan"))
        after = cursor_key(page.after, date.fromisoformat, datetime.fromisoformat, uuid.UUID)
        rows = [VisitOut.model_validate(v) for v in await list_visits(uow, plan.id, limit=page.limit, after=after)]
        audit(uow, principal, "visits.read", plan.person_id, plan_id=str(plan.id))
        await uow.commit()
    return make_page(rows, page.limit, key=lambda v: [v.visited_on.isoformat(), v.recorded_at.isoformat(), str(v.id)])


# --- the visitor's own list (mobile app) -----------------------------------------------------


@router.get("/my/visits-due", response_model=Page[DueOut])
async def my_visits_due(
    within_days: int = Query(7, ge=0, le=366, description="due within this many days from today"),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*VISITOR_ROLES)),
) -> Page[DueOut]:
    """The caller's own visits due (mobile app of a 505 volunteer or care worker): the persons
    paired with them whose next visit is due by today + ``within_days``, overdue first (by due
    date). Nobody else's persons appear. Audited read."""
    async with uow:
        on = today(uow)
        rows = await visits_due(
            uow, sub=principal.subject, on=on, within_days=within_days, limit=page.limit,
            after=cursor_key(page.after, date.fromisoformat, uuid.UUID),
        )
        audit(uow, principal, "visits_due.read", count=min(len(rows), page.limit))
        await uow.commit()
    return make_page([DueOut(**r) for r in rows], page.limit, key=lambda r: [r.next_due.isoformat(), str(r.plan_id)])


# --- referrals and KPI -----------------------------------------------------------------------


@router.get("/referrals", response_model=Page[ReferralOut])
async def get_referrals(
    town: str | None = Query(None),
    to: Literal["relief", "eligibility"] | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[ReferralOut]:
    """Referrals made by visits, oldest first (a town sees its own, a village officer its
    village's persons')."""
    async with uow:
        query = select(Referral).order_by(Referral.created_at, Referral.id).limit(page.limit + 1)
        # Referrals carry no village: the person's (evaluated only for a village officer).
        village = select(Person.village).where(Person.id == Referral.person_id).scalar_subquery()
        query = query.where(*scope_clauses(principal, town, Referral.town, village))
        if to is not None:
            query = query.where(Referral.to == to)
        key = cursor_key(page.after, datetime.fromisoformat, uuid.UUID)
        if key is not None:
            query = query.where(tuple_(Referral.created_at, Referral.id) > tuple_(*key))
        rows = [ReferralOut.model_validate(r) for r in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda r: [r.created_at.isoformat(), str(r.id)])


@router.get("/kpis/visits", response_model=VisitsKpiOut)
async def get_visits_kpi(
    year: int = Query(..., ge=2000, le=2100),
    town: str | None = Query(None),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> VisitsKpiOut:
    """Visits on time (R-LB-2) in ``year``: on time, late, and periods missed, with the rate."""
    async with uow:
        return VisitsKpiOut(**await visits_kpi(uow, year=year, town=town_filter(principal, town)))
