"""``/api/v1/eligibility/households/{id}/risk-assessments`` and ``/referrals`` (R-RM)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import select, tuple_

from services.eligibility.access import READERS, WRITERS, household_scope_clauses
from services.eligibility.monitoring.models import Referral, RiskAssessment
from services.eligibility.monitoring.schemas import CloseReferralIn, ReferralOut, RiskAssessmentOut
from services.eligibility.monitoring.service import evaluate_household
from services.eligibility.registry import service as registry
from shared.app import get_uow
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/eligibility", tags=["monitoring"])


def referral_out(r: Referral) -> ReferralOut:
    return ReferralOut(
        referral_id=r.id, household_id=r.household_id, town=r.town, kind=r.kind, reasons=r.reasons,
        suggested_amount=r.suggested_amount, risk_assessment_id=r.risk_assessment_id, source=r.source,
        source_ref=r.source_ref, status=r.status,
        outcome=r.outcome, created_at=r.created_at, closed_at=r.closed_at, closed_by=r.closed_by,
    )


@router.get("/households/{household_id}/risk-assessments", response_model=Page[RiskAssessmentOut])
async def list_assessments(household_id: uuid.UUID, page: PageParams = Depends(page_params), uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READERS))) -> Page[RiskAssessmentOut]:
    """The household's monitoring assessments, newest first, each with flags, reasons and figures."""
    async with uow:
        household = await registry.get_household(uow.session, household_id, principal)
        query = select(RiskAssessment).where(RiskAssessment.household_id == household.id).order_by(RiskAssessment.id.desc()).limit(page.limit + 1)
        if page.after:
            query = query.where(RiskAssessment.id < int(page.after[0]))
        rows = [RiskAssessmentOut.model_validate(r, from_attributes=True) for r in (await uow.session.scalars(query)).all()]
        return make_page(rows, page.limit, key=lambda r: [r.id])


@router.post("/households/{household_id}/risk-assessments", status_code=status.HTTP_201_CREATED, response_model=RiskAssessmentOut)
async def assess_now(household_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*WRITERS))) -> RiskAssessmentOut:
    """Evaluate a monitored household now (R-RM-2..5). 409 ``not_monitored`` outside R-RM-1."""
    async with uow:
        household = await registry.get_household(uow.session, household_id, principal, lock=True)
        assessment = await evaluate_household(uow=uow, household=household, trigger="manual")
        if assessment is None:
            raise Problem(409, "not_monitored", "the household is not in the monitored population (R-RM-1)")
        out = RiskAssessmentOut.model_validate(assessment, from_attributes=True)
        await uow.commit()
        return out


@router.get("/referrals", response_model=Page[ReferralOut])
async def list_referrals(
    status_: str | None = Query("open", alias="status", pattern="^(open|closed)$"),
    kind: str | None = Query(None, pattern="^(assessment|expenditure_relief)$"),
    household_id: uuid.UUID | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> Page[ReferralOut]:
    """Referrals (caseworker tasks of R-RM-5), oldest first; a town user sees its own town, a
    village officer its own village's households'."""
    async with uow:
        query = select(Referral).order_by(Referral.created_at, Referral.id).limit(page.limit + 1)
        query = query.where(*household_scope_clauses(principal, Referral.town, Referral.household_id))
        if status_:
            query = query.where(Referral.status == status_)
        if kind:
            query = query.where(Referral.kind == kind)
        if household_id:
            query = query.where(Referral.household_id == household_id)
        if page.after:
            after = (datetime.fromisoformat(str(page.after[0])), uuid.UUID(str(page.after[1])))
            query = query.where(tuple_(Referral.created_at, Referral.id) > after)
        rows = [referral_out(r) for r in (await uow.session.scalars(query)).all()]
        return make_page(rows, page.limit, key=lambda r: [r.created_at.isoformat(), str(r.referral_id)])


@router.post("/referrals/{referral_id}:close", response_model=ReferralOut)
async def close_referral(referral_id: uuid.UUID, body: CloseReferralIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*WRITERS))) -> ReferralOut:
    """Close a referral with its outcome (an application opened, relief requested, not needed)."""
    async with uow:
        referral = await uow.session.get(Referral, referral_id, with_for_update=True)
        if referral is None:
            raise not_found("referral")
        principal.ensure_town(referral.town, "referral")
        if referral.status != "open":
            raise Problem(409, "referral_closed", "the referral is already closed")
        referral.status, referral.closed_at, referral.closed_by = "closed", uow.now(), principal.subject
        referral.outcome = body.outcome + (f": {body.note}" if body.note else "")
        out = referral_out(referral)
        await uow.commit()
        return out
