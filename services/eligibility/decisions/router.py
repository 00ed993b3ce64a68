"""Calculators (``…:evaluate``, storing nothing) and the decisions and benefits of registered
households: ``/api/v1/eligibility/dibao:evaluate`` and friends, ``/households/{id}/…``,
``/decisions``, ``/benefits``."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy import select, text, tuple_

from services.eligibility.access import APPROVERS, FULL_VIEW, READERS, audit_reads, scope_clauses, village_scoped
from services.eligibility.decisions import rules, service
from services.eligibility.decisions.models import Benefit, Decision
from services.eligibility.decisions.schemas import (
    AssessIn,
    BenefitOut,
    ChildEvaluateIn,
    ChildEvaluateOut,
    DecisionOut,
    DecisionResultOut,
    DibaoEvaluateIn,
    DibaoEvaluateOut,
    EndBenefitIn,
    MonitoringEvaluateIn,
    MonitoringEvaluateOut,
    RecheckOut,
    ReferralSuggestionOut,
    RosterEntryIn,
    SinglePersonOut,
    TekunEvaluateIn,
    TekunEvaluateOut,
    benefit_out,
    decision_out,
)
from services.eligibility.figures import add_months, fen_half_up, local_date
from services.eligibility.monitoring import rules as monitoring_rules
from services.eligibility.parameters.rules import MissingParameter
from services.eligibility.parameters.service import parameters_on
from services.eligibility.registry import service as registry
from services.eligibility.registry.models import Person
from shared.app import get_uow
from shared.auth import DISTRICT_ADMIN, Principal, authenticated, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/eligibility", tags=["decisions"])
calculators = APIRouter(prefix="/api/v1/eligibility", tags=["calculators"])


def _missing(exc: MissingParameter) -> Problem:
    return Problem(422, "parameter_missing", str(exc), parameter=exc.name)


# --- calculators ------------------------------------------------------------------------------


@calculators.post("/dibao:evaluate", response_model=DibaoEvaluateOut)
async def evaluate_dibao(body: DibaoEvaluateIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)) -> DibaoEvaluateOut:
    """Dibao calculator (低保, R-DB-2..6); stores nothing.

    Per-capita monthly income = (income_12m − deductions) / 12 / members, net below 0 counting as
    0 (R-DB-2); eligible when below the standard in force on ``assessed_on`` and within the asset
    rules (R-DB-3); ``monthly_benefit`` = standard × members − net / 12, only this final amount
    rounded half-up to the fen (R-DB-4). Not eligible: single-person inclusion in the edge band
    (R-DB-5), or with ``previous_benefit`` the exit rules (R-DB-6). Money in yuan strings. Errors:
    422 for members < 1, negative / non-numeric / over 1e9 amounts, unknown fields;
    ``parameter_missing`` for a date before the first standard.
    """
    async with uow:
        params = await parameters_on(uow.session, body.assessed_on)
    data = rules.DibaoInput(
        assessed_on=body.assessed_on,
        members=body.members,
        income_12m=body.income_12m,
        deductions_12m=body.deductions_12m.model_dump(),
        financial_assets=body.financial_assets,
        disqualifying_assets=tuple(body.disqualifying_assets),
        member_conditions=tuple(
            rules.MemberCondition(c.disability_grade, c.disability_kind, c.serious_illness, c.own_income_12m)
            for c in body.member_conditions
        ),
        registered_poor=body.registered_poor,
        previous_benefit=body.previous_benefit,
    )
    try:
        result = rules.assess_dibao(data, params)
    except MissingParameter as exc:
        raise _missing(exc) from None
    return DibaoEvaluateOut(
        eligible=result.eligible,
        outcome=result.outcome,
        per_capita_monthly=result.per_capita_monthly,
        monthly_benefit=result.monthly_benefit,
        single_person_inclusion=result.single_person_inclusion,
        single_person_benefits=[
            SinglePersonOut(member_index=s.index, basis=s.basis, own_monthly_income=fen_half_up(s.own_monthly_income), monthly_benefit=s.monthly_benefit)
            for s in result.single_person_benefits
        ],
        gradual_exit_last_month=result.gradual_exit_last_month,
        last_month=result.exit_last_month,
        trace=result.trace(),
    )


@calculators.post("/tekun:evaluate", response_model=TekunEvaluateOut)
async def evaluate_tekun(body: TekunEvaluateIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)) -> TekunEvaluateOut:
    """Tekun calculator (特困, R-TK-1; basic living amount R-TK-2); stores nothing.

    Eligible with no capacity to work (aged 60+, under 16, intellectual/mental disability 1–3,
    physical 1–2, visual 1), no income source (own monthly income below the dibao standard) and no
    legal supporter able to support; a tekun minor keeps support until 18 (longer in school).
    """
    async with uow:
        params = await parameters_on(uow.session, body.assessed_on)
    try:
        result = rules.assess_tekun(
            rules.TekunInput(
                assessed_on=body.assessed_on, birth_date=body.birth_date, disability_grade=body.disability_grade,
                disability_kind=body.disability_kind, own_income_12m=body.own_income_12m,
                supporters=tuple(rules.Supporter(s.relation, s.able_to_support) for s in body.supporters),
                school_enrolment=body.school_enrolment, currently_tekun=body.currently_tekun,
                chose_orphan_allowance=body.chose_orphan_allowance,
            ),
            params,
        )
    except MissingParameter as exc:
        raise _missing(exc) from None
    return TekunEvaluateOut(
        eligible=result.eligible, incapacity=list(result.incapacity), no_income_source=result.no_income_source,
        no_able_supporter=result.no_able_supporter, support_until=result.support_until,
        monthly_basic_living=result.monthly_basic_living, trace=result.trace(),
    )


@calculators.post("/children:evaluate", response_model=ChildEvaluateOut)
async def evaluate_child(body: ChildEvaluateIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)) -> ChildEvaluateOut:
    """Orphan (R-OR-1) or child without de-facto care (事实无人抚养儿童, R-OR-2) calculator; stores
    nothing. ``category``: ``orphan_institutional``, ``orphan_dispersed``, ``child_without_care``
    or null."""
    async with uow:
        params = await parameters_on(uow.session, body.assessed_on)
    parents = tuple(rules.Parent(p.situation, p.missing_since, p.disability_grade, p.disability_kind) for p in body.parents)
    try:
        result = rules.assess_child(
            rules.ChildInput(assessed_on=body.assessed_on, birth_date=body.birth_date, parents=(parents[0], parents[1]),
                             school_enrolment=body.school_enrolment, in_institution=body.in_institution),
            params,
        )
    except MissingParameter as exc:
        raise _missing(exc) from None
    return ChildEvaluateOut(category=result.category, parent_findings=list(result.parent_findings), trace=result.trace())


@calculators.post("/monitoring:evaluate", response_model=MonitoringEvaluateOut)
async def evaluate_monitoring(body: MonitoringEvaluateIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)) -> MonitoringEvaluateOut:
    """Return-to-poverty monitoring calculator (R-RM-1..5); stores nothing. Flags
    ``expenditure_shock`` (R-RM-2), ``income_shock`` (R-RM-3), ``low_income`` (R-RM-4), each with
    its figures; the referrals R-RM-5 would create."""
    async with uow:
        params = await parameters_on(uow.session, body.assessed_on)
    try:
        result = monitoring_rules.evaluate(
            monitoring_rules.MonitoringInput(
                assessed_on=body.assessed_on, members=body.members, income_12m=body.income_12m,
                income_prev_12m=body.income_prev_12m, income_prev_year=body.income_prev_year,
                rigid_expenditure_12m={k: v for k, v in body.rigid_expenditure_12m.model_dump().items() if v},
                deductions_12m=body.deductions_12m, ex_poor=body.ex_poor, edge=body.edge,
                department_data=body.department_data, covered=body.covered,
            ),
            params,
        )
    except MissingParameter as exc:
        raise _missing(exc) from None
    return MonitoringEvaluateOut(
        monitored=result.monitored, population=list(result.population), flags=[f.as_dict() for f in result.flags],
        referrals=[ReferralSuggestionOut(kind=r.kind, reasons=list(r.reasons), suggested_amount=r.suggested_amount) for r in result.referrals],
        trace=result.trace(),
    )


# --- decisions on registered households ---------------------------------------------------


@router.post("/households/{household_id}/dibao:evaluate", response_model=DibaoEvaluateOut, tags=["calculators"])
async def evaluate_household_dibao(household_id: uuid.UUID, body: AssessIn, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*FULL_VIEW))) -> DibaoEvaluateOut:
    """What R-DB-2..6 make of the registered household's figures on ``assessed_on`` (default
    today): the same result a reassessment would record, storing no decision (the read is
    audited). The trace holds incomes and assets: the full-view roles only (403 for village
    officers and care workers). Errors: 404; 422 ``no_members``."""
    async with uow:
        household = await registry.get_household(uow.session, household_id, principal)
        on = body.assessed_on or local_date(uow.now())
        live = [b for b in await service.live_benefits(uow.session, household.id) if b.category == "dibao"]
        try:
            assessment = await service.assess_household(uow.session, household, on, previous_benefit=live[0].monthly_amount if live else None)
        except MissingParameter as exc:
            raise _missing(exc) from None
        await audit_reads(uow.session, request=request, principal=principal, at=uow.now(), record_type="household",
                          records=[(household.id, household.id)], action="evaluate")
        await uow.commit()
    result = assessment.result
    return DibaoEvaluateOut(
        eligible=result.eligible, outcome=result.outcome, per_capita_monthly=result.per_capita_monthly,
        monthly_benefit=result.monthly_benefit, single_person_inclusion=result.single_person_inclusion,
        single_person_benefits=[SinglePersonOut(member_index=s.index, basis=s.basis, own_monthly_income=fen_half_up(s.own_monthly_income), monthly_benefit=s.monthly_benefit) for s in result.single_person_benefits],
        gradual_exit_last_month=result.gradual_exit_last_month, last_month=result.exit_last_month, trace=assessment.trace(),
    )


@router.post("/households/{household_id}/reassessments", status_code=status.HTTP_201_CREATED, response_model=DecisionResultOut)
async def reassess_household(household_id: uuid.UUID, body: AssessIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*APPROVERS))) -> DecisionResultOut:
    """Reassess a covered household's dibao from its current figures (the yearly / 6-monthly
    re-check of R-DB-9, or after a change): records the decision and changes the benefit from the
    next month, starts the gradual exit (R-DB-6) or ends it. Approver of the household's own
    town (R-DB-7). Grants nothing new (that is an application's approval). Errors: 404, 422."""
    async with uow:
        household = await registry.get_household(uow.session, household_id, principal, lock=True)
        on = body.assessed_on or local_date(uow.now())
        try:
            decision, touched = await service.apply_dibao(uow=uow, household=household, on=on, kind="reassessment",
                                                          decided_by=principal.subject, grant_new=False, note=body.note)
        except MissingParameter as exc:
            raise _missing(exc) from None
        out = DecisionResultOut(decision=decision_out(decision), benefits=[benefit_out(b) for b in touched])
        await uow.commit()
        return out


@router.post("/households/{household_id}/roster-entries", status_code=status.HTTP_201_CREATED, response_model=DecisionResultOut)
async def record_roster_entry(household_id: uuid.UUID, body: RosterEntryIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(DISTRICT_ADMIN))) -> DecisionResultOut:
    """Enter an existing beneficiary at go-live (存量对象录入, district administrator): the
    category approved before this system on ``approved_on``. The amount is the rules' (R-DB-4/5,
    R-TK-2) on that date from the registry's figures — a household the rules do not find eligible
    is recorded as such and gets no benefit. Emits ``eligibility.benefit.granted``."""
    async with uow:
        household = await registry.get_household(uow.session, household_id, principal, lock=True)
        effective = body.effective_month or rules.payment_start(body.approved_on)
        try:
            if body.category == "dibao":
                decision, touched = await service.apply_dibao(uow=uow, household=household, on=body.approved_on, kind="recorded",
                                                              decided_by=principal.subject, effective_month=effective, note=body.note)
            else:
                person = await _member(uow, household.id, body.person_id)
                decision, touched = await service.apply_person_category(uow=uow, household=household, person=person, category=body.category,
                                                                        on=body.approved_on, kind="recorded", decided_by=principal.subject,
                                                                        effective_month=effective, note=body.note)
        except MissingParameter as exc:
            raise _missing(exc) from None
        out = DecisionResultOut(decision=decision_out(decision), benefits=[benefit_out(b) for b in touched])
        await uow.commit()
        return out


async def _member(uow: UnitOfWork, household_id: uuid.UUID, person_id: uuid.UUID | None) -> Person:
    if person_id is None:
        raise Problem(422, "person_required", "this category is decided for one person: give person_id")
    person = await uow.session.get(Person, person_id)
    if person is None or person.household_id != household_id:
        raise Problem(422, "unknown_member", "person_id is not a member of this household")
    if person.status != "active":
        raise Problem(409, "person_not_active", f"the person is {person.status}")
    return person


@router.get("/households/{household_id}/decisions", response_model=Page[DecisionOut])
async def household_decisions(household_id: uuid.UUID, page: PageParams = Depends(page_params), uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*FULL_VIEW))) -> Page[DecisionOut]:
    """The household's decisions, newest first, each with its trace (income and asset figures:
    the full-view roles only)."""
    async with uow:
        household = await registry.get_household(uow.session, household_id, principal)
        query = select(Decision).where(Decision.household_id == household.id).order_by(Decision.created_at.desc(), Decision.id.desc()).limit(page.limit + 1)
        if page.after:
            after = (datetime.fromisoformat(str(page.after[0])), uuid.UUID(str(page.after[1])))
            query = query.where(tuple_(Decision.created_at, Decision.id) < after)
        rows = [decision_out(d) for d in (await uow.session.scalars(query)).all()]
        return make_page(rows, page.limit, key=lambda d: [d.created_at.isoformat(), str(d.decision_id)])


@router.get("/decisions/{decision_id}", response_model=DecisionOut)
async def get_decision(decision_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*FULL_VIEW))) -> DecisionOut:
    """One decision with its trace (inputs, parameter versions, figures, rule ids); the
    full-view roles only."""
    async with uow:
        decision = await uow.session.get(Decision, decision_id)
        if decision is None:
            raise not_found("decision")
        principal.ensure_town(decision.town, "decision")
        return decision_out(decision)


@router.get("/benefits", response_model=Page[BenefitOut])
async def list_benefits(
    household_id: uuid.UUID | None = Query(None),
    person_id: uuid.UUID | None = Query(None),
    category: str | None = Query(None, max_length=32),
    status_: str | None = Query(None, alias="status", pattern="^(active|gradual_exit|ended)$"),
    town: str | None = Query(None, max_length=9),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> Page[BenefitOut]:
    """Benefits (the roster), by id; filters household_id, person_id, category, status, town. A
    town user sees its own town, a village officer its own village."""
    async with uow:
        query = select(Benefit).order_by(Benefit.id).limit(page.limit + 1)
        query = query.where(*scope_clauses(principal, Benefit.town, Benefit.village))
        for column, value in ((Benefit.household_id, household_id), (Benefit.person_id, person_id), (Benefit.category, category),
                              (Benefit.status, status_), (Benefit.town, town)):
            if value is not None:
                query = query.where(column == value)
        if page.after:
            query = query.where(Benefit.id > uuid.UUID(str(page.after[0])))
        rows = [benefit_out(b) for b in (await uow.session.scalars(query)).all()]
        return make_page(rows, page.limit, key=lambda b: [str(b.benefit_id)])


@router.post("/benefits/{benefit_id}:end", response_model=DecisionResultOut)
async def end_benefit(benefit_id: uuid.UUID, body: EndBenefitIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*APPROVERS))) -> DecisionResultOut:
    """End a live benefit (withdrawn by the beneficiary, or a minor choosing the orphan allowance
    over tekun, R-TK-1) after ``last_month``; approver of the household's town. Errors: 404; 409
    ``benefit_ended``; 422 ``last_month_before_start``."""
    async with uow:
        benefit = await uow.session.get(Benefit, benefit_id, with_for_update=True)
        if benefit is None:
            raise not_found("benefit")
        principal.ensure_town(benefit.town, "benefit")
        if benefit.status == "ended":
            raise Problem(409, "benefit_ended", "the benefit has already ended")
        if body.last_month < add_months(benefit.effective_month, -1):
            raise Problem(422, "last_month_before_start", "last_month is before the month before the benefit started")
        household = await registry.get_household(uow.session, benefit.household_id, None)
        decision = service.new_decision(
            uow, household=household, category=benefit.category, kind="ended", outcome="ended",
            assessed_on=local_date(uow.now()), amount=Decimal("0.00"), rule_ids=(benefit.rule,), person_id=benefit.person_id,
            decided_by=principal.subject, note=body.note,
            trace={"rules": [benefit.rule], "inputs": {"reason": body.reason}, "parameters": [], "figures": {}, "reasons": [body.reason], "outcome": "ended"},
        )
        service.end(uow, benefit, last_month=body.last_month, reason=body.reason, decision=decision)
        await uow.session.flush()
        out = DecisionResultOut(decision=decision_out(decision), benefits=[benefit_out(benefit)])
        await uow.commit()
        return out




_RECHECKS = text(
    """
    SELECT * FROM (
        SELECT b.id, b.household_id, b.town, b.category, COALESCE(b.assessed_on, b.effective_month) AS assessed_on, m.months,
               CAST(COALESCE(b.assessed_on, b.effective_month) + make_interval(months => m.months) AS date) AS due_on
        FROM benefits b
        JOIN households h ON h.id = b.household_id
        CROSS JOIN LATERAL (
            SELECT CASE WHEN h.irregular_income OR EXISTS (
                        SELECT 1 FROM persons p WHERE p.household_id = h.id AND p.status = 'active' AND p.able_to_work)
                   THEN CAST(:irregular AS integer) ELSE CAST(:stable AS integer) END AS months) m
        WHERE b.status = 'active' AND b.category IN ('dibao', 'dibao_single_person')
          AND (CAST(:town AS text) IS NULL OR b.town = CAST(:town AS text))
          AND (CAST(:village AS text) IS NULL OR h.village = CAST(:village AS text))
    ) due
    WHERE due.due_on <= :due_by AND (due.due_on, due.id) > (CAST(:after_due AS date), CAST(:after_id AS uuid))
    ORDER BY due.due_on, due.id
    LIMIT :limit
    """
)


@router.get("/rechecks", response_model=Page[RecheckOut])
async def due_rechecks(
    due_by: date | None = Query(None, description="default: today"),
    town: str | None = Query(None, max_length=9),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> Page[RecheckOut]:
    """Covered households due for their periodic re-check by ``due_by`` (R-DB-9): a stable
    household every ``recheck_months_stable`` (12) months from its last assessment, one with
    irregular income or a member able to work every ``recheck_months_irregular`` (6). Earliest
    first; a town user sees its own town, a village officer its village. Re-check with
    ``POST /households/{id}/reassessments``."""
    async with uow:
        due = due_by or local_date(uow.now())
        params = await parameters_on(uow.session, due)
        if not principal.district_wide:
            town = principal.town or "-"
        after = page.after or ["0001-01-01", "00000000-0000-0000-0000-000000000000"]
        rows = (await uow.session.execute(_RECHECKS, {
            "irregular": params.integer("recheck_months_irregular"), "stable": params.integer("recheck_months_stable"),
            "town": town, "village": (principal.village or "-") if village_scoped(principal) else None,
            "due_by": due, "after_due": date.fromisoformat(str(after[0])), "after_id": str(after[1]),
            "limit": page.limit + 1,
        })).all()
        items = [RecheckOut(benefit_id=r.id, household_id=r.household_id, town=r.town, category=r.category,
                            assessed_on=r.assessed_on, interval_months=r.months, due_on=r.due_on) for r in rows]
        return make_page(items, page.limit, key=lambda r: [r.due_on.isoformat(), str(r.benefit_id)])
