"""``/api/v1/relief/cases``: temporary-relief cases (临时救助) — intake, decisions, payment, SLA."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from services.relief.audit import record_read
from services.relief.cases import rules, service
from services.relief.cases.models import CaseCheck, CaseHistory, CasePayment, CaseTimer, ReliefCase
from services.relief.cases.schemas import (
    AcceptIn,
    ApplicantOut,
    ApprovalIn,
    CaseIn,
    CaseOut,
    CheckIn,
    CheckOut,
    DocumentOut,
    DocumentsIn,
    HistoryOut,
    PaperworkEvaluateIn,
    PaperworkEvaluateOut,
    PaperworkOut,
    PaymentIn,
    PaymentOut,
    RefusalIn,
    SlaEvaluateIn,
    SlaEvaluateOut,
    SlaOut,
    SlaSummaryOut,
    SlaTownOut,
    TimerOut,
)
from services.relief.parameters.service import policy_on
from shared.app import get_uow
from shared.auth import (
    AUDITOR,
    DISTRICT_ADMIN,
    DISTRICT_APPROVER,
    TOWN_APPROVER,
    TOWN_CASEWORKER,
    Principal,
    authenticated,
    require_roles,
)
from shared.calendar_store import load_calendar
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.ids import mask_id_number
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams, make_page, page_params
from shared.regions import DISTRICT, TOWNS, is_town

router = APIRouter(prefix="/api/v1/relief", tags=["relief cases"])

READERS = (DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, AUDITOR)
WRITERS = (DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER)
DECIDERS = (TOWN_APPROVER, DISTRICT_APPROVER)


def case_id_path(case_id: str = Path(description="the case id (UUID)")) -> uuid.UUID:
    """The case id of the path; 422 ``invalid_id`` for anything but a UUID."""
    try:
        return uuid.UUID(case_id)
    except ValueError:
        raise Problem(422, "invalid_id", "The case id must be a UUID") from None


def _known_town(code: str) -> None:
    if not is_town(code):
        raise Problem(422, "unknown_town", f"unknown town (镇/街道) division code: {code}")


async def _payer(principal: Principal = Depends(authenticated)) -> Principal:
    """Staff who may record payments, or a system client with scope ``bank``."""
    if principal.has_role(*WRITERS) or (principal.client and "bank" in principal.scopes):
        return principal
    raise Problem(403, "forbidden", "Your role may not record payments")


def case_out(
    case: ReliefCase, timers: dict[str, CaseTimer], payment: CasePayment | None, now: datetime, *, full: bool
) -> CaseOut:
    """The API form of a case; ``full``: the applicant's ID number unmasked (audited reads only)."""
    missing = rules.missing_documents(case.kind, case.documents)  # type: ignore[arg-type]
    at_risk, breach, paper = timers.get("sla_at_risk"), timers.get("sla_breach"), timers.get("paperwork_overdue")
    return CaseOut(
        id=str(case.id), kind=case.kind, status=case.status, town=case.town, village=case.village,  # type: ignore[arg-type]
        applicant=ApplicantOut(
            type=case.applicant_type, category=case.non_local_category, person_id=case.person_id,  # type: ignore[arg-type]
            household_id=case.household_id, name=case.applicant_name,
            id_number=(case.id_number if full else mask_id_number(case.id_number)) if case.id_number else None,
        ),
        cause=case.cause, reason=case.reason, amount_requested=case.amount_requested,
        suggested_amount=case.suggested_amount, amount_approved=case.amount_approved, approver=case.approver,  # type: ignore[arg-type]
        documents=[DocumentOut(**d) for d in case.documents], referral_id=case.referral_id, referred_to=case.referred_to,
        accepted_at=case.accepted_at, approved_at=case.approved_at, refused_at=case.refused_at,
        refusal_reason=case.refusal_reason, paid_at=case.paid_at,
        sla=SlaOut(
            state=rules.sla_state(status=case.status, now=now, deadline_at=case.deadline_at,
                                  at_risk_at=case.at_risk_at, paid_at=case.paid_at),
            working_days=case.sla_working_days, deadline_date=case.deadline_date, deadline_at=case.deadline_at,
            at_risk_at=case.at_risk_at, provisional=case.provisional,
            at_risk_notified_at=at_risk.fired_at if at_risk and at_risk.outcome == "fired" else None,
            breach_notified_at=breach.fired_at if breach and breach.outcome == "fired" else None,
        ),
        paperwork=PaperworkOut(
            missing=missing, working_days=case.paperwork_working_days, due_date=case.paperwork_due_date,
            due_at=case.paperwork_due_at, provisional=case.paperwork_provisional,
            completed_at=case.paperwork_completed_at,
            overdue_notified_at=paper.fired_at if paper and paper.outcome == "fired" else None,
        ),
        payment=PaymentOut(
            amount=payment.amount, reference=payment.reference, fund=payment.fund,  # type: ignore[arg-type]
            reserve_year=payment.reserve_year, paid_at=payment.paid_at, recorded_by=payment.recorded_by,
        ) if payment else None,
        parameters_used=case.parameters_used or [], created_at=case.created_at, updated_at=case.updated_at,
    )


async def _full_out(uow: UnitOfWork, case: ReliefCase, *, full: bool = True) -> CaseOut:
    timers = (await service.timers_of(uow.session, [case.id]))[case.id]
    payment = await service.payment_of(uow.session, case.id)
    return case_out(case, timers, payment, uow.now(), full=full)


# -- calculators -----------------------------------------------------------------------------


@router.post("/sla:evaluate", response_model=SlaEvaluateOut, tags=["calculators"])
async def evaluate_sla(body: SlaEvaluateIn, request: Request, _: Principal = Depends(authenticated)) -> SlaEvaluateOut:
    """R-TR-2 calculator (救难型 5 个工作日内发放到位): the disbursement deadline of an emergency case
    accepted at ``accepted_at``; stores nothing.

    → ``deadline_date`` (the 5th working day after the acceptance date in Asia/Shanghai, with
    make-up days), ``deadline_at`` (24:00 of it = next day 00:00+08:00), ``at_risk_at`` (when one
    working day remains), ``provisional`` (a year with no official calendar was used), trace.
    422 ``no_parameters_in_force`` for a date before the parameters' first version."""
    async with request.app.state.sessionmaker() as session:
        policy = await policy_on(session, service.local_date(body.accepted_at))
        calendar = await load_calendar(session)
    sla = rules.sla_deadline(body.accepted_at, working_days=policy.sla_working_days,
                             at_risk_working_days=policy.at_risk_working_days, calendar=calendar)
    years = sorted(range(service.local_date(body.accepted_at).year, sla.deadline_date.year + 1))
    return SlaEvaluateOut(
        deadline_date=sla.deadline_date, deadline_at=sla.deadline_at, at_risk_at=sla.at_risk_at,
        provisional=sla.provisional, working_days=sla.working_days,
        trace={
            "rule_ids": ["R-TR-2"],
            "inputs": {"accepted_at": body.accepted_at.isoformat()},
            "parameters": policy.used("sla_working_days", "at_risk_working_days"),
            "figures": {"accepted_date": service.local_date(body.accepted_at).isoformat(),
                        "calendar_sources": {str(y): calendar.source_of(y) for y in years}},
        },
    )


@router.post("/paperwork:evaluate", response_model=PaperworkEvaluateOut, tags=["calculators"])
async def evaluate_paperwork(
    body: PaperworkEvaluateIn, request: Request, _: Principal = Depends(authenticated)
) -> PaperworkEvaluateOut:
    """R-TR-5 calculator (先行救助、后补手续): when the missing documents of a case approved at
    ``approved_at`` are due — 24:00 Asia/Shanghai of the 10th working day after; stores nothing."""
    async with request.app.state.sessionmaker() as session:
        policy = await policy_on(session, service.local_date(body.approved_at))
        calendar = await load_calendar(session)
    due = rules.paperwork_deadline(body.approved_at, working_days=policy.paperwork_working_days, calendar=calendar)
    return PaperworkEvaluateOut(
        due_date=due.deadline_date, due_at=due.deadline_at, provisional=due.provisional,
        working_days=due.working_days,
        trace={"rule_ids": ["R-TR-5"], "inputs": {"approved_at": body.approved_at.isoformat()},
               "parameters": policy.used("paperwork_working_days"), "figures": {}},
    )


# -- cases -----------------------------------------------------------------------------------


@router.post("/cases", response_model=CaseOut, status_code=201)
async def open_case(
    body: CaseIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITERS)),
):
    """Accept a temporary-relief application (受理): R-TR-1 (type), R-TR-2 (SLA of an emergency
    case: 5 working days from ``accepted_at``), R-TR-6 (non-local applicants get emergency
    relief; a vagrant is recorded as referred to the rescue station), R-EP-1 (checks).

    Body: :class:`CaseIn`. 201 with the case. 422 (nothing stored): ``invalid_amount`` (0,
    negative, sub-fen), ``over_case_cap`` (> 5,000 yuan), ``unknown_town``, ``format`` /
    ``length`` / ``birth_date`` / ``checksum`` (resident ID number), ``unknown_person`` (also a
    person registered in another town, to a town user: nothing revealed), ``applicant_other_town``
    (the same, to district roles), ``registered_person`` (a ``non_local`` applicant whose ID number
    is in the registry: use the registered form), ``applicant_incomplete``,
    ``non_local_emergency_only``, ``accepted_in_future``; 404 for another town. ``Idempotency-Key`` honoured.
    """
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:/api/v1/relief/cases",
                       payload=body.model_dump(mode="json"))
    async with uow:
        replayed = await idem.replay(uow.session)
        if replayed is not None:
            return JSONResponse(replayed[1], status_code=replayed[0])
        case = await service.open_case(uow=uow, principal=principal, data=body)
        out = await _full_out(uow, case)
        idem.record(uow.session, 201, out.model_dump(mode="json"))
        await uow.commit()
    return out


SlaFilter = Literal["on_track", "at_risk", "breached", "met", "not_applicable"]


@router.get("/cases", response_model=Page[CaseOut])
async def list_cases(
    request: Request,
    town: str | None = Query(None, max_length=20, description="town (镇/街道) division code"),
    status: Literal["suggested", "open", "approved", "paid", "refused", "referred"] | None = Query(None),
    kind: Literal["emergency", "expenditure"] | None = Query(None),
    sla_state: SlaFilter | None = Query(None, description="R-TR-2 state now"),
    person_id: str | None = Query(None, max_length=64),
    household_id: str | None = Query(None, max_length=64),
    year: int | None = Query(None, ge=2000, le=2099,
                             description="only cases accepted (受理) that calendar year, Asia/Shanghai"),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> Page[CaseOut]:
    """Cases, newest first (``created_at``), filtered by town, status, kind, SLA state (R-TR-2:
    on_track, at_risk, breached, met, not_applicable — at the clock's now), person, household
    and year. All filters combine (AND). A town-scoped user sees its own town only (another
    ``town`` is 404). ID numbers are masked here; names are shown, so the read is audited (one
    row per case listed, ``cases.list``).

    ``year`` (2000–2099): cases whose ``accepted_at`` (受理时间) falls in that calendar year in
    Asia/Shanghai time, i.e. ``[year-01-01T00:00+08:00, (year+1)-01-01T00:00+08:00)`` — the year
    the relief KPIs and ``/sla-summary?year=`` count a case in. Suggested cases not yet accepted
    have no acceptance time and are in no year. 422 problem+json: ``int_parsing`` (not an
    integer), ``greater_than_equal`` / ``less_than_equal`` (out of range); 422
    ``invalid_cursor``; 422 ``unknown_town``."""
    if town is not None:
        _known_town(town)
        principal.ensure_town(town, "town")
        towns: list[str] | None = [town]
    else:
        towns = None if principal.district_wide else [principal.town or ""]
    flt = service.CaseFilter(towns=towns, status=status, kind=kind, sla_state=sla_state, person_id=person_id,
                             household_id=household_id, year=year)
    async with uow:
        now = uow.now()
        try:
            query = service.list_query(flt, now, limit=page.limit, after=page.after)
        except (ValueError, IndexError):
            raise Problem(422, "invalid_cursor", "The cursor is not valid") from None
        cases = list((await uow.session.scalars(query)).all())
        timers = await service.timers_of(uow.session, [c.id for c in cases])
        payments = await service.payments_of(uow.session, [c.id for c in cases])
        items = [case_out(c, timers[c.id], payments.get(c.id), now, full=False) for c in cases]
        record_read(uow, request, principal, "cases.list", cases[:page.limit])
        await uow.commit()
    return make_page(items, page.limit, key=lambda c: [c.created_at.isoformat(), c.id])


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(
    request: Request,
    case_id: uuid.UUID = Depends(case_id_path),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> CaseOut:
    """One case with the applicant's details — name and the full resident ID number (the read is
    audited, ``case.read``: see ``GET /api/v1/relief/audit-log``); 404 for another town's case,
    422 ``invalid_id`` for a malformed id."""
    async with uow:
        case = await service.get_case(uow.session, principal, case_id)
        out = await _full_out(uow, case)
        record_read(uow, request, principal, "case.read", [case])
        await uow.commit()
    return out


@router.post("/cases/{case_id}/acceptance", response_model=CaseOut)
async def accept_case(
    body: AcceptIn,
    case_id: uuid.UUID = Depends(case_id_path),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITERS)),
) -> CaseOut:
    """Accept a suggested case (opened from an eligibility referral, R-RM-5): the applicant (a
    member of the referred household), amount and file. 409 ``case_not_suggested``; 422 as for
    opening and ``person_not_in_household``."""
    async with uow:
        case = await service.accept_case(uow=uow, principal=principal, case_id=case_id, data=body)
        out = await _full_out(uow, case)
        await uow.commit()
    return out


@router.post("/cases/{case_id}/approval", response_model=CaseOut)
async def approve_case(
    body: ApprovalIn,
    case_id: uuid.UUID = Depends(case_id_path),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*DECIDERS)),
) -> CaseOut:
    """Approve an open case (R-TR-3/4/5): amounts ≤ 3,000 yuan by the case's own town approver
    (and only if the town's reserve left covers it), ≤ 5,000 by the district approver; an
    emergency case may be approved with documents missing (paperwork due in 10 working days).
    403 ``approval_tier``; 409 ``case_not_open``, ``reserve_insufficient``, ``documents_missing``;
    422 ``invalid_amount``, ``over_case_cap``; 404 for another town."""
    async with uow:
        case = await service.approve_case(uow=uow, principal=principal, case_id=case_id, amount=body.amount, note=body.note)
        out = await _full_out(uow, case)
        await uow.commit()
    return out


@router.post("/cases/{case_id}/refusal", response_model=CaseOut)
async def refuse_case(
    body: RefusalIn,
    case_id: uuid.UUID = Depends(case_id_path),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*DECIDERS)),
) -> CaseOut:
    """Refuse an open or approved, unpaid case with a reason. 403 ``approval_tier``, 409 ``case_not_open``."""
    async with uow:
        case = await service.refuse_case(uow=uow, principal=principal, case_id=case_id, reason=body.reason)
        out = await _full_out(uow, case)
        await uow.commit()
    return out


@router.post("/cases/{case_id}/payment", response_model=PaymentOut, status_code=201)
async def pay_case(
    body: PaymentIn,
    case_id: uuid.UUID = Depends(case_id_path),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(_payer),
):
    """Record the payment of an approved case, once, with its ``reference`` (R-TR-3/4). A town-tier
    case is paid from the town's reserve of the year (never below zero). ``Idempotency-Key``
    honoured (same key and body: the first answer again). 409 ``already_paid`` (paying a paid
    case), ``case_not_approved``, ``reserve_insufficient``; 422 ``amount_mismatch``; 403."""
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:/api/v1/relief/cases/{case_id}/payment",
                       payload=body.model_dump(mode="json"))
    async with uow:
        replayed = await idem.replay(uow.session)
        if replayed is not None:
            return JSONResponse(replayed[1], status_code=replayed[0])
        _, payment = await service.pay_case(uow=uow, principal=principal, case_id=case_id, reference=body.reference,
                                            amount=body.amount)
        out = PaymentOut(amount=payment.amount, reference=payment.reference, fund=payment.fund,  # type: ignore[arg-type]
                         reserve_year=payment.reserve_year, paid_at=payment.paid_at, recorded_by=payment.recorded_by)
        idem.record(uow.session, 201, out.model_dump(mode="json"))
        await uow.commit()
    return out


@router.get("/cases/{case_id}/payment", response_model=PaymentOut)
async def get_payment(
    case_id: uuid.UUID = Depends(case_id_path),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(_payer),
) -> PaymentOut:
    """The payment of a case; 404 when not paid."""
    async with uow:
        await service.get_case(uow.session, principal, case_id)
        payment = await service.payment_of(uow.session, case_id)
        if payment is None:
            raise Problem(404, "not_found", "payment not found")
        return PaymentOut(amount=payment.amount, reference=payment.reference, fund=payment.fund,  # type: ignore[arg-type]
                          reserve_year=payment.reserve_year, paid_at=payment.paid_at, recorded_by=payment.recorded_by)


@router.put("/cases/{case_id}/documents", response_model=CaseOut)
async def update_documents(
    body: DocumentsIn,
    case_id: uuid.UUID = Depends(case_id_path),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITERS)),
) -> CaseOut:
    """Mark documents of the checklist received; completing the papers of a case paid first
    (R-TR-5) stops its reminder. 409 ``case_closed``."""
    async with uow:
        case = await service.update_documents(uow=uow, principal=principal, case_id=case_id, items=body.documents)
        out = await _full_out(uow, case)
        await uow.commit()
    return out


@router.post("/cases/{case_id}/checks", response_model=CheckOut, status_code=201)
async def add_check(
    body: CheckIn,
    case_id: uuid.UUID = Depends(case_id_path),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITERS)),
) -> CheckOut:
    """Record a check of the applicant's situation by ``phone``, ``wechat`` or ``home_visit`` (R-EP-1)."""
    async with uow:
        check = await service.add_check(uow=uow, principal=principal, case_id=case_id, method=body.method,
                                        checked_at=body.checked_at, note=body.note)
        out = CheckOut.model_validate(check)
        await uow.commit()
    return out


@router.get("/cases/{case_id}/checks", response_model=Page[CheckOut])
async def list_checks(
    case_id: uuid.UUID = Depends(case_id_path),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> Page[CheckOut]:
    """The checks of a case (R-EP-1), oldest first."""
    async with uow:
        await service.get_case(uow.session, principal, case_id)
        query = CaseCheck.__table__.select().where(CaseCheck.case_id == case_id).order_by(CaseCheck.id).limit(page.limit + 1)
        if page.after:
            query = query.where(CaseCheck.id > int(page.after[0]))
        rows = (await uow.session.execute(query)).mappings().all()
    return make_page([CheckOut.model_validate(dict(r)) for r in rows], page.limit, key=lambda c: [c.id])


@router.get("/cases/{case_id}/history", response_model=Page[HistoryOut])
async def list_history(
    case_id: uuid.UUID = Depends(case_id_path),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> Page[HistoryOut]:
    """What happened to a case, oldest first (opened, approved, paid, timers fired …)."""
    async with uow:
        await service.get_case(uow.session, principal, case_id)
        query = CaseHistory.__table__.select().where(CaseHistory.case_id == case_id).order_by(CaseHistory.id).limit(page.limit + 1)
        if page.after:
            query = query.where(CaseHistory.id > int(page.after[0]))
        rows = (await uow.session.execute(query)).mappings().all()
    return make_page([HistoryOut.model_validate(dict(r)) for r in rows], page.limit, key=lambda h: [h.id])


@router.get("/cases/{case_id}/timers", response_model=list[TimerOut])
async def list_timers(
    case_id: uuid.UUID = Depends(case_id_path),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> list[TimerOut]:
    """The persisted timers of a case (R-TR-2 at-risk and breach, R-TR-5 paperwork): due instant,
    and when each fired (once) with the event id."""
    async with uow:
        await service.get_case(uow.session, principal, case_id)
        timers = (await service.timers_of(uow.session, [case_id]))[case_id]
        return [TimerOut.model_validate(t) for t in sorted(timers.values(), key=lambda t: t.due_at)]


# -- SLA summary -----------------------------------------------------------------------------


def _rate(met: int, breached: int) -> str | None:
    closed = met + breached
    return None if closed == 0 else str((Decimal(met) / Decimal(closed)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


@router.get("/sla-summary", response_model=SlaSummaryOut)
async def sla_summary(
    year: int | None = Query(None, ge=2000, le=2099, description="only cases accepted that year"),
    town: str | None = Query(None, max_length=20, description="town (镇/街道) division code"),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> SlaSummaryOut:
    """Emergency cases by R-TR-2 state at the clock's now, per town and for the district, with
    the compliance rate met / (met + breached). A town-scoped user gets its own town."""
    if town is not None:
        _known_town(town)
        principal.ensure_town(town, "town")
    towns = [t for t in TOWNS if principal.can_see_town(t.code) and (town is None or t.code == town)]
    async with uow:
        now = uow.now()
        counts = await service.sla_counts(uow.session, now, towns=[t.code for t in towns], year=year)
    items = []
    total: dict[str, int] = {"on_track": 0, "at_risk": 0, "breached": 0, "met": 0}
    for t in towns:
        c = counts.get(t.code, {})
        row: dict[str, Any] = {k: c.get(k, 0) for k in total}
        for k in total:
            total[k] += row[k]
        items.append(SlaTownOut(town=t.code, town_name=t.name, compliance_rate=_rate(row["met"], row["breached"]), **row))
    district = SlaTownOut(town=DISTRICT.code, town_name=DISTRICT.name, compliance_rate=_rate(total["met"], total["breached"]), **total)
    return SlaSummaryOut(as_of=now, year=year, towns=items, district=district)

