"""``/api/v1/eligibility/applications``: the R-DB-9 / R-TK-1 workflow with its deadlines."""

from __future__ import annotations

from typing import Annotated

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import select, tuple_

from services.eligibility.access import APPROVERS, READERS, WRITERS, scope_clauses, village_scoped
from services.eligibility.decisions.schemas import DecisionResultOut, benefit_out, decision_out
from services.eligibility.registry.models import Household
from services.eligibility.schemas import TownCode
from services.eligibility.workflow import rules, service
from services.eligibility.workflow.models import Application, ApplicationObjection
from services.eligibility.workflow.schemas import (
    ApplicationIn,
    ApplicationOut,
    ApproveIn,
    DeadlineOut,
    ExtendIn,
    NoticeIn,
    ObjectionIn,
    ObjectionOut,
    OpinionIn,
    RefuseIn,
    ResolveObjectionIn,
)
from shared.app import get_uow
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/eligibility/applications", tags=["applications"])
Writers = Depends(require_roles(*WRITERS))
Approvers = Depends(require_roles(*APPROVERS))


async def application_out(uow: UnitOfWork, a: Application) -> ApplicationOut:
    await uow.session.flush()
    deadlines = [
        DeadlineOut(step=d.step, working_days=d.working_days, starts_on=d.starts_on, due_date=d.due_date, due_at=d.due_at,
                    provisional=d.provisional, state=rules.deadline_state(d.due_at, d.met_at, d.breached_at),
                    met_at=d.met_at, breached_at=d.breached_at, at_risk_at=d.at_risk_at, at_risk_notified_at=d.at_risk_fired_at)
        for d in await service.deadlines_of(uow, a.id)
    ]
    return ApplicationOut(
        application_id=a.id, household_id=a.household_id, person_id=a.person_id, town=a.town, category=a.category,
        status=a.status, accepted_at=a.accepted_at, accepted_by=a.accepted_by, extended=a.extended,
        investigation_started_at=a.investigation_started_at, opinion=a.opinion, opinion_note=a.opinion_note,
        opinion_at=a.opinion_at, notice_from=a.notice_from, notice_until=a.notice_until, with_approver_at=a.with_approver_at,
        steps=a.steps or [], decided_at=a.decided_at, decided_by=a.decided_by, refusal_reasons=a.refusal_reasons,
        refusal_notified_at=a.refusal_notified_at, decision_id=a.decision_id, deadlines=deadlines,
        objections=[objection_out(o) for o in await service.objections_of(uow, a.id)],
    )


def objection_out(o: ApplicationObjection) -> ObjectionOut:
    return ObjectionOut(
        objection_id=o.id, application_id=o.application_id, received_on=o.received_on, objector=o.objector,
        objector_kind=o.objector_kind, channel=o.channel, content=o.content, recorded_by=o.recorded_by,
        recorded_at=o.recorded_at, status=o.status, resolution_reason=o.resolution_reason, resolved_by=o.resolved_by,
        resolved_at=o.resolved_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApplicationOut)
async def accept_application(body: ApplicationIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ApplicationOut:
    """Accept an application (受理) of a household of the caller's town: dibao (the household;
    the rules may cover one member alone, R-DB-5), or tekun / orphan / child_without_care /
    revolutionary_veteran (one member, ``person_id``). Deadlines start in working days: R-DB-9
    investigation within 3, whole process within 30; R-TK-1 investigation within 15. Errors: 404,
    409 ``application_open``, 422 ``person_required`` / ``unknown_member``."""
    async with uow:
        application = await service.accept(uow=uow, principal=principal, household_id=body.household_id,
                                           category=body.category, person_id=body.person_id)
        out = await application_out(uow, application)
        await uow.commit()
        return out


@router.get("", response_model=Page[ApplicationOut])
async def list_applications(
    status_: str | None = Query(None, alias="status", max_length=20),
    household_id: uuid.UUID | None = Query(None),
    town: Annotated[TownCode | None, Query(description="a town's 9-digit code")] = None,
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> Page[ApplicationOut]:
    """Applications, oldest first, filtered by ``status``, ``household_id``, ``town``; a town
    user sees its own town (``town`` of another town: 404), a village officer its own village's
    households. An unknown town code is 422 ``unknown_town``."""
    if town is not None:
        principal.ensure_town(town, "town")
    async with uow:
        query = select(Application).order_by(Application.accepted_at, Application.id).limit(page.limit + 1)
        if village_scoped(principal):  # applications have no village: those of its village's households
            query = query.where(Application.household_id.in_(
                select(Household.id).where(*scope_clauses(principal, Household.town, Household.village))))
        else:
            query = query.where(*scope_clauses(principal, Application.town))
        if town:
            query = query.where(Application.town == town)
        if status_:
            query = query.where(Application.status == status_)
        if household_id:
            query = query.where(Application.household_id == household_id)
        if page.after:
            query = query.where(tuple_(Application.accepted_at, Application.id) > (datetime.fromisoformat(str(page.after[0])), uuid.UUID(str(page.after[1]))))
        rows = [await application_out(uow, a) for a in (await uow.session.scalars(query)).all()]
        return make_page(rows, page.limit, key=lambda a: [a.accepted_at.isoformat(), str(a.application_id)])


@router.get("/{application_id}", response_model=ApplicationOut)
async def get_application(application_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READERS))) -> ApplicationOut:
    """One application with its steps and deadlines (state open / met / met_late / breached)."""
    async with uow:
        return await application_out(uow, await service.get_application(uow, application_id, principal, lock=False))


async def _step(uow: UnitOfWork, application_id: uuid.UUID, principal: Principal, action, **kwargs) -> ApplicationOut:  # noqa: ANN001
    async with uow:
        application = await service.get_application(uow, application_id, principal)
        await action(uow=uow, application=application, **kwargs)
        out = await application_out(uow, application)
        await uow.commit()
        return out


@router.post("/{application_id}:start-investigation", response_model=ApplicationOut)
async def start_investigation(application_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ApplicationOut:
    """The town starts the household investigation (R-DB-9: within 3 working days). 409 ``wrong_step``."""
    return await _step(uow, application_id, principal, service.start_investigation, by=principal.subject)


@router.post("/{application_id}:give-opinion", response_model=ApplicationOut)
async def give_opinion(application_id: uuid.UUID, body: OpinionIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ApplicationOut:
    """The town's initial opinion after the investigation: ``approve`` or ``refuse``."""
    return await _step(uow, application_id, principal, service.give_opinion, opinion=body.opinion, note=body.note, by=principal.subject)


@router.post("/{application_id}:publish-notice", response_model=ApplicationOut)
async def publish_notice(application_id: uuid.UUID, body: NoticeIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ApplicationOut:
    """Public notice (公示) of 7 calendar days from ``starts_on`` (default today), for an approve
    opinion. 409 ``no_notice_for_refusal``, 422 ``notice_in_past``."""
    return await _step(uow, application_id, principal, service.publish_notice, starts_on=body.starts_on, by=principal.subject)


@router.post("/{application_id}:submit", response_model=ApplicationOut)
async def submit(application_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ApplicationOut:
    """The file goes to the approver once the notice is over (409 ``notice_running``); the
    decision is due within 10 working days (R-DB-9; tekun confirmation 15, R-TK-1)."""
    return await _step(uow, application_id, principal, service.submit, by=principal.subject)


@router.post("/{application_id}:approve", response_model=DecisionResultOut)
async def approve(application_id: uuid.UUID, body: ApproveIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Approvers) -> DecisionResultOut:
    """Approve (an approver of the household's own town, R-DB-7): the rules fix the amount on
    today's figures, the decision is recorded with its trace and the benefit starts the month
    after (``eligibility.benefit.granted``). 422 ``not_eligible`` (with the trace, nothing stored)
    when the rules find no benefit."""
    async with uow:
        application = await service.get_application(uow, application_id, principal)
        decision, touched = await service.approve(uow=uow, principal=principal, application=application, note=body.note)
        out = DecisionResultOut(decision=decision_out(decision), benefits=[benefit_out(b) for b in touched])
        await uow.commit()
        return out


@router.post("/{application_id}:refuse", response_model=ApplicationOut)
async def refuse(application_id: uuid.UUID, body: RefuseIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Approvers) -> ApplicationOut:
    """Refuse with reasons (approver of the town); to be notified within 3 working days."""
    async with uow:
        application = await service.get_application(uow, application_id, principal)
        await service.refuse(uow=uow, principal=principal, application=application, reasons=body.reasons, note=body.note)
        out = await application_out(uow, application)
        await uow.commit()
        return out


@router.post("/{application_id}:notify-refusal", response_model=ApplicationOut)
async def notify_refusal(application_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ApplicationOut:
    """Record that the refusal and its reasons were notified to the applicant."""
    return await _step(uow, application_id, principal, service.notify_refusal, by=principal.subject)


@router.post("/{application_id}:extend", response_model=ApplicationOut)
async def extend(application_id: uuid.UUID, body: ExtendIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ApplicationOut:
    """Extend the whole process to 45 working days (R-DB-9), with the reason."""
    return await _step(uow, application_id, principal, service.extend, reason=body.reason, by=principal.subject)


@router.post("/{application_id}:withdraw", response_model=ApplicationOut)
async def withdraw(application_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ApplicationOut:
    """The applicant withdrew the application."""
    return await _step(uow, application_id, principal, service.withdraw, by=principal.subject)


@router.post("/{application_id}/objections", status_code=status.HTTP_201_CREATED, response_model=ObjectionOut)
async def record_objection(application_id: uuid.UUID, body: ObjectionIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ObjectionOut:
    """Record an objection (公示异议) to an application in its public notice: who raised it
    (``objector``, ``objector_kind``), how (``channel``), what it says (``content``), received on
    ``received_on`` (default today) within the notice period. Until the town resolves it the
    file cannot go to the approver (``:submit`` → 409 ``objection_open``). Errors: 404; 409
    ``wrong_step`` (not in notice), ``outside_notice``; 422 ``future_date``."""
    async with uow:
        application = await service.get_application(uow, application_id, principal)
        objection = await service.record_objection(
            uow=uow, application=application, received_on=body.received_on, objector=body.objector,
            objector_kind=body.objector_kind, channel=body.channel, content=body.content, by=principal.subject,
        )
        out = objection_out(objection)
        await uow.commit()
        return out


@router.get("/{application_id}/objections", response_model=list[ObjectionOut])
async def list_objections(application_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READERS))) -> list[ObjectionOut]:
    """An application's objections with their resolutions (the trail: who recorded and resolved
    each, when, why), oldest first."""
    async with uow:
        application = await service.get_application(uow, application_id, principal, lock=False)
        return [objection_out(o) for o in await service.objections_of(uow, application.id)]


@router.post("/{application_id}/objections/{objection_id}:resolve", response_model=ApplicationOut)
async def resolve_objection(application_id: uuid.UUID, objection_id: uuid.UUID, body: ResolveObjectionIn, uow: UnitOfWork = Depends(get_uow),
                            principal: Principal = Approvers) -> ApplicationOut:
    """The town (an approver of the household's town, R-DB-7) resolves an objection after
    verifying it: ``upheld`` → the application is refused with ``reason`` (a refusal decision;
    to be notified within 3 working days, R-DB-9); ``dismissed`` → the application continues.
    Errors: 404 (also another town's), 409 ``objection_resolved`` / ``wrong_step``."""
    async with uow:
        application = await service.get_application(uow, application_id, principal)
        await service.resolve_objection(uow=uow, principal=principal, application=application, objection_id=objection_id,
                                        outcome=body.outcome, reason=body.reason)
        out = await application_out(uow, application)
        await uow.commit()
        return out
