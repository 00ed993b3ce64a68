"""Self-care endpoints: the R-TK-2 calculator, assessments, reassessments after a change (R-TK-1)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response

from services.care.common import READ_ROLES, WRITE_ROLES, parse_uuid, scope_clauses
from services.care.persons.service import audit, village_of
from services.care.selfcare import rules
from services.care.selfcare.models import Reassessment
from services.care.selfcare.schemas import (
    AbilityChangeIn,
    AssessmentIn,
    AssessmentOut,
    ReassessmentOut,
    SelfCareEvaluation,
    SelfCareQuery,
)
from services.care.selfcare.service import list_assessments, list_reassessments, record_assessment, report_ability_change
from shared.app import get_uow
from shared.auth import Principal, authenticated, require_roles
from shared.db import UnitOfWork
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/care", tags=["self-care"])


@router.post("/self-care:evaluate", response_model=SelfCareEvaluation)
async def evaluate_self_care(body: SelfCareQuery, _: Principal = Depends(authenticated)) -> SelfCareEvaluation:
    """Calculator of the self-care level (生活自理能力评估, R-TK-2); stores nothing.

    Input: ``not_achieved``, the items not achieved among ``eating``, ``dressing``,
    ``bed_transfer``, ``toileting``, ``walking_indoors``, ``bathing``. Output: ``level`` —
    ``self_care`` (none), ``partial_loss`` (1–3), ``full_loss`` (4 or more) — with the trace.
    422 ``unknown_item`` for another item, ``duplicate_item`` for one listed twice.
    """
    result = rules.assess(body.not_achieved)
    return SelfCareEvaluation(level=result.level, not_achieved_count=result.not_achieved_count, trace=result.trace())


@router.post("/persons/{person_id}/assessments", response_model=AssessmentOut, status_code=201)
async def create_assessment(
    person_id: str,
    body: AssessmentIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> AssessmentOut:
    """Record a tekun person's assessment (R-TK-2); it becomes the current level, completes an open
    reassessment, and emits ``care.selfcare.assessed`` (the subsidy service pays the care tier
    from it). 409 ``not_tekun``, ``person_deceased``, ``assessment_out_of_order``; 422
    ``future_date``, ``unknown_item``, ``duplicate_item``; 404 unknown or another town's person."""
    async with uow:
        assessment = await record_assessment(
            uow=uow, principal=principal, person_id=parse_uuid(person_id, "person"),
            not_achieved=body.not_achieved, assessed_on=body.assessed_on, assessor=body.assessor, note=body.note,
        )
        out = AssessmentOut.model_validate(assessment)
        await uow.commit()
    return out


@router.get("/persons/{person_id}/assessments", response_model=list[AssessmentOut])
async def get_assessments(
    person_id: str, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READ_ROLES))
) -> list[AssessmentOut]:
    """A person's self-care assessments, newest first (audited read)."""
    async with uow:
        pid = parse_uuid(person_id, "person")
        rows = [AssessmentOut.model_validate(a) for a in await list_assessments(uow, principal, pid)]
        audit(uow, principal, "assessments.read", pid)
        await uow.commit()
    return rows


@router.post("/persons/{person_id}/ability-changes", response_model=ReassessmentOut, status_code=201)
async def report_change(
    person_id: str,
    body: AbilityChangeIn,
    response: Response,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> ReassessmentOut:
    """Report a change of a tekun person's self-care ability: a reassessment is due within
    ``reassessment_working_days`` (10) working days (R-TK-1), ``deadline_at`` = 24:00 of the last
    one. 201 when opened; 200 with the request already open. 409 ``not_tekun``,
    ``person_deceased``; 422 ``future_date``."""
    async with uow:
        request, created = await report_ability_change(
            uow=uow, principal=principal, person_id=parse_uuid(person_id, "person"),
            reported_on=body.reported_on, description=body.description,
        )
        out = ReassessmentOut.model_validate(request)
        out.overdue = request.status == "open" and request.deadline_at <= uow.now()
        await uow.commit()
    if not created:
        response.status_code = 200
    return out


@router.get("/reassessments", response_model=Page[ReassessmentOut])
async def get_reassessments(
    town: str | None = Query(None, description="town code (district staff)"),
    status: Literal["open", "overdue", "done", "cancelled"] | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[ReassessmentOut]:
    """Reassessment requests by deadline; ``status=overdue`` = open past the deadline. A town sees
    its own, a village officer its village's persons' (the request carries no village: the
    person's). 404 another town (town staff); 422 ``invalid_cursor``."""
    async with uow:
        scope = scope_clauses(principal, town, Reassessment.town, village_of(Reassessment.person_id))
        rows = await list_reassessments(uow, scope=scope, status=status, after=page.after, limit=page.limit)
        now = uow.now()
        items = []
        for r in rows:
            out = ReassessmentOut.model_validate(r)
            out.overdue = r.status == "open" and r.deadline_at <= now
            items.append(out)
    return make_page(items, page.limit, key=lambda r: [r.deadline_at.isoformat(), str(r.id)])
