"""Use cases of temporary-relief cases: intake, acceptance, approval, refusal, payment, documents,
checks, SLA and paperwork timers, calendar recomputation, lists.

Every write runs in the caller's :class:`~shared.db.UnitOfWork` and stages its events there; the
caller commits. Times come from ``uow.now()`` (the injected clock); dates and deadlines are in
Asia/Shanghai.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.relief import events
from services.relief.cases import rules
from services.relief.cases.models import CaseCheck, CaseHistory, CasePayment, CaseTimer, ReliefCase
from services.relief.funds import service as funds
from services.relief.funds.rules import approval_tier
from services.relief.parameters.rules import PolicySet
from services.relief.parameters.service import policy_on
from services.relief.registry import service as registry
from shared.auth import DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, Principal
from shared.calendar import TZ
from shared.calendar_store import load_calendar
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.money import format_yuan

log = structlog.get_logger("relief.cases")

RESCUE_STATION = "quangang_district_rescue_station"  # 泉港区救助站
SLA_TIMERS = ("sla_at_risk", "sla_breach")
# An acceptance time this far ahead of the clock is still accepted (clock skew between devices).
FUTURE_TOLERANCE = timedelta(minutes=5)


def local_date(instant: datetime) -> date:
    return instant.astimezone(TZ).date()


# -- reading ---------------------------------------------------------------------------------


async def get_case(session: AsyncSession, principal: Principal, case_id: uuid.UUID, *, lock: bool = False) -> ReliefCase:
    """The case, or 404 ``not_found`` (also for another town's case seen by a town-scoped user)."""
    query = select(ReliefCase).where(ReliefCase.id == case_id)
    if lock:
        # FOR NO KEY UPDATE: serialises writers of the case, yet lets the timer loop insert rows
        # referencing it (a foreign-key check takes KEY SHARE) while it holds timer rows a writer
        # may be waiting for — no deadlock between the two.
        query = query.with_for_update(key_share=True)
    case = await session.scalar(query)
    if case is None:
        raise not_found("case")
    principal.ensure_town(case.town, "case")
    return case


async def timers_of(session: AsyncSession, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, CaseTimer]]:
    """Timers of the cases, by case and kind."""
    out: dict[uuid.UUID, dict[str, CaseTimer]] = {cid: {} for cid in case_ids}
    if case_ids:
        for timer in (await session.scalars(select(CaseTimer).where(CaseTimer.case_id.in_(list(case_ids))))).all():
            out[timer.case_id][timer.kind] = timer
    return out


async def payments_of(session: AsyncSession, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CasePayment]:
    if not case_ids:
        return {}
    rows = (await session.scalars(select(CasePayment).where(CasePayment.case_id.in_(list(case_ids))))).all()
    return {p.case_id: p for p in rows}


async def payment_of(session: AsyncSession, case_id: uuid.UUID) -> CasePayment | None:
    return await session.get(CasePayment, case_id)


# -- writing helpers -------------------------------------------------------------------------


def _history(uow: UnitOfWork, case: ReliefCase, action: str, actor: str, **detail: Any) -> None:
    uow.session.add(CaseHistory(case_id=case.id, at=uow.now(), action=action, actor=actor, detail=detail or None))


async def _schedule(session: AsyncSession, case_id: uuid.UUID, kind: str, due_at: datetime) -> None:
    """Create the ``kind`` timer of a case, or move it if it has not fired yet."""
    statement = insert(CaseTimer).values(case_id=case_id, kind=kind, due_at=due_at)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["case_id", "kind"],
            set_={"due_at": statement.excluded.due_at},
            where=CaseTimer.fired_at.is_(None),
        )
    )


async def _cancel(session: AsyncSession, case_id: uuid.UUID, kinds: Sequence[str]) -> None:
    """Drop the pending timers ``kinds`` of a case (made moot: paid, refused, papers complete)."""
    await session.execute(
        delete(CaseTimer).where(CaseTimer.case_id == case_id, CaseTimer.kind.in_(list(kinds)), CaseTimer.fired_at.is_(None))
    )


def _documents(kind: rules.CaseKind, items: Sequence[Any]) -> list[dict[str, Any]]:
    return rules.checklist(kind, {d.code: d.received for d in items})


async def _set_sla(uow: UnitOfWork, case: ReliefCase, policy: PolicySet) -> None:
    """R-TR-2: deadline, warning instant and timers of an accepted emergency case."""
    if not (rules.sla_applies(case.kind) and case.status in rules.OPEN_STATUSES and case.accepted_at):
        return
    calendar = await load_calendar(uow.session)
    sla = rules.sla_deadline(
        case.accepted_at, working_days=policy.sla_working_days,
        at_risk_working_days=policy.at_risk_working_days, calendar=calendar,
    )
    case.deadline_date, case.deadline_at, case.at_risk_at = sla.deadline_date, sla.deadline_at, sla.at_risk_at
    case.provisional = sla.provisional
    case.sla_working_days, case.at_risk_working_days = policy.sla_working_days, policy.at_risk_working_days
    await uow.session.flush()
    await _schedule(uow.session, case.id, "sla_at_risk", sla.at_risk_at)
    await _schedule(uow.session, case.id, "sla_breach", sla.deadline_at)


def _check_accepted_at(uow: UnitOfWork, accepted_at: datetime | None) -> datetime:
    now = uow.now()
    if accepted_at is None:
        return now
    if accepted_at > now + FUTURE_TOLERANCE:
        raise Problem(422, "accepted_in_future", "The acceptance time is in the future")
    return accepted_at


def _check_cap(amount: Decimal, policy: PolicySet) -> None:
    tier = approval_tier(amount, town_limit=policy.town_approval_limit, case_cap=policy.case_cap)
    if tier.refused == "over_case_cap":
        raise Problem(
            422, "over_case_cap",
            f"{format_yuan(amount)} yuan exceeds the cap of {format_yuan(policy.case_cap)} yuan per case (R-TR-3)",
            case_cap=format_yuan(policy.case_cap),
        )


def _unknown_person() -> Problem:
    return Problem(422, "unknown_person", "No registered person with this person_id / id_number")


async def _resolve_applicant(session: AsyncSession, principal: Principal, applicant: Any, *, town: str) -> dict[str, Any]:
    """Applicant columns of a case of ``town``.

    Where relief is applied for: R-TR-3/R-TR-4 have the case's town decide and pay from its own
    reserve, a town user acts on its own town only (R-DB-7, 404 elsewhere), and R-TR-6 is the one
    exception to "one's own town" — a person *without* local household registration (a non-local)
    applies directly where the hardship is. No rule lets a town take the case of a person
    registered (living: ``eligibility.person.moved`` keeps ``town`` current) in another town of the
    district; that person applies in their own town. So a registered applicant must be of the case's
    town. To a town user a person of another town is refused exactly as an unknown one (same status,
    code and text, checked before deceased / moved-away), so the answer reveals neither the person's
    details nor that the registry holds them; district roles see every town and are told plainly
    (``applicant_other_town``). A non-local applicant whose ID number is in the registry is not a
    non-local (R-TR-6): ``registered_person``, the same answer whatever the person's town.
    Raises Problem 422 ``unknown_person``, ``applicant_other_town``, ``id_number_mismatch``,
    ``applicant_deceased``, ``applicant_moved_away``, ``registered_person``.
    """
    if applicant.type == "registered":
        person = await registry.find_person(session, person_id=applicant.person_id, id_number=applicant.id_number,
                                            prefer_town=town)
        if person is None:
            raise _unknown_person()
        if person.town != town:
            if not principal.district_wide:
                raise _unknown_person()
            raise Problem(422, "applicant_other_town",
                          "The person is registered in another town: open the case in the person's town",
                          applicant_town=person.town)
        if applicant.id_number and person.id_number and applicant.id_number != person.id_number:
            raise Problem(422, "id_number_mismatch", "The ID number is not the registered person's")
        if person.deceased_on is not None or person.status == "deceased":
            raise Problem(422, "applicant_deceased", "The registered person is deceased")
        if person.status == "moved_away":
            raise Problem(422, "applicant_moved_away",
                          "The person has left the district's registry; open the case as a non-local applicant (R-TR-6)")
        return {
            "applicant_type": "registered", "person_id": person.person_id, "household_id": person.household_id,
            "applicant_name": person.name, "id_number": person.id_number, "non_local_category": None,
        }
    if applicant.type == "non_local" and await registry.id_number_registered(session, applicant.id_number):
        raise Problem(422, "registered_person",
                      "This ID number is in the district's registry: open the case as a registered applicant, "
                      "in the town where the person lives (R-TR-6 is for persons without local registration)")
    return {
        "applicant_type": applicant.type, "person_id": None, "household_id": None,
        "applicant_name": applicant.name, "id_number": applicant.id_number,
        "non_local_category": applicant.category if applicant.type == "non_local" else None,
    }


# -- intake ----------------------------------------------------------------------------------


async def open_case(*, uow: UnitOfWork, principal: Principal, data: Any) -> ReliefCase:
    """Accept a temporary-relief application (受理) — R-TR-1, R-TR-2, R-TR-6, R-EP-1.

    ``data``: a :class:`~services.relief.cases.schemas.CaseIn`. A vagrant's case is recorded as
    referred to the rescue station (no SLA, no payment). An emergency case gets its SLA deadline
    (5 working days, provisional for a year with no official calendar) and its timers. Raises
    Problem 404 (another town), 422 ``accepted_in_future``, ``non_local_emergency_only``,
    ``unknown_person`` (also a person of another town, to a town user), ``applicant_other_town``
    (district roles), ``registered_person`` (a non-local applicant in the registry),
    ``id_number_mismatch``, ``applicant_deceased``, ``applicant_moved_away``, ``over_case_cap``,
    ``no_parameters_in_force``. Emits ``relief.case.opened`` (or ``relief.case.referred``).
    """
    principal.ensure_town(data.town, "town")
    accepted_at = _check_accepted_at(uow, data.accepted_at)
    try:
        rules.check_applicant(data.kind, data.applicant.type)
    except rules.CaseRuleError as exc:
        raise Problem(422, exc.code, exc.message) from None
    policy = await policy_on(uow.session, local_date(accepted_at))
    status = rules.initial_status(data.applicant.type)
    if data.amount is not None and status != "referred":
        _check_cap(data.amount, policy)
    applicant = await _resolve_applicant(uow.session, principal, data.applicant, town=data.town)
    now = uow.now()
    case = ReliefCase(
        id=uuid.uuid4(), kind=data.kind, status=status, town=data.town, village=data.village, **applicant,
        cause=data.cause, reason=data.reason, amount_requested=data.amount if status != "referred" else None,
        documents=_documents(data.kind, data.documents),
        referred_to=RESCUE_STATION if status == "referred" else None,
        accepted_at=accepted_at, accepted_by=principal.subject, provisional=False,
        parameters_used=policy.used(), opened_by=principal.subject, created_at=now, updated_at=now,
    )
    uow.session.add(case)
    await uow.session.flush()
    await _set_sla(uow, case, policy)
    for check in data.checks:
        uow.session.add(CaseCheck(case_id=case.id, method=check.method, checked_at=check.checked_at or now,
                                  checked_by=principal.subject, note=check.note))
    if status == "referred":
        _history(uow, case, "referred", principal.subject, to=RESCUE_STATION, rule="R-TR-6")
        uow.emit(events.CASE_REFERRED, events.CaseReferred(**events.base_data(case), referred_to=RESCUE_STATION),
                 subject=str(case.id))
    else:
        _history(uow, case, "opened", principal.subject, rule="R-TR-2" if case.deadline_at else "R-TR-1")
        uow.emit(events.CASE_OPENED, events.CaseOpened(**events.base_data(case)), subject=str(case.id))
    log.info("relief.case.opened", case_id=str(case.id), town=case.town, kind=case.kind, status=status,
             provisional=case.provisional)
    return case


async def open_suggested_case(*, uow: UnitOfWork, data: dict[str, Any]) -> ReliefCase | None:
    """From ``eligibility.referral.created`` (kind ``expenditure_relief``, R-RM-5): a *suggested*
    expenditure-type case for the household, waiting for a caseworker to accept it. One per
    referral (a replayed referral is ignored; returns None)."""
    referral_id = str(data["referral_id"])
    if await uow.session.scalar(select(ReliefCase.id).where(ReliefCase.referral_id == referral_id)):
        return None
    suggested = data.get("suggested_amount")
    now = uow.now()
    case = ReliefCase(
        id=uuid.uuid4(), kind="expenditure", status="suggested", town=str(data["town"]), village=None,
        applicant_type="registered", household_id=str(data["household_id"]), person_id=None,
        cause=None, reason=None, amount_requested=None,
        suggested_amount=Decimal(str(suggested)) if suggested not in (None, "") else None,
        documents=rules.checklist("expenditure"), referral_id=referral_id,
        referral_reasons=[str(r) for r in data.get("reasons") or []],
        provisional=False, parameters_used=[], opened_by="eligibility.referral", created_at=now, updated_at=now,
    )
    uow.session.add(case)
    await uow.session.flush()
    _history(uow, case, "suggested", "eligibility.referral", referral_id=referral_id, rule="R-RM-5")
    uow.emit(events.CASE_OPENED, events.CaseOpened(**events.base_data(case), referral_id=referral_id), subject=str(case.id))
    log.info("relief.case.suggested", case_id=str(case.id), town=case.town)
    return case


async def accept_case(*, uow: UnitOfWork, principal: Principal, case_id: uuid.UUID, data: Any) -> ReliefCase:
    """Accept a suggested case (受理): the applicant must be a member of the referred household.

    Raises Problem 404, 409 ``case_not_suggested``, 422 as :func:`open_case` and
    ``person_not_in_household``. Emits ``relief.case.opened``.
    """
    case = await get_case(uow.session, principal, case_id, lock=True)
    if case.status != "suggested":
        raise Problem(409, "case_not_suggested", f"The case is {case.status}, not suggested")
    kind = data.kind or case.kind
    accepted_at = _check_accepted_at(uow, data.accepted_at)
    if data.applicant.type != "registered":
        raise Problem(422, "person_not_in_household", "The applicant of a referred case is a member of that household")
    policy = await policy_on(uow.session, local_date(accepted_at))
    _check_cap(data.amount, policy)
    applicant = await _resolve_applicant(uow.session, principal, data.applicant, town=case.town)
    if applicant["household_id"] != case.household_id:
        raise Problem(422, "person_not_in_household", "The applicant is not a member of the referred household")
    for key, value in applicant.items():
        setattr(case, key, value)
    case.kind, case.status = kind, "open"
    case.amount_requested, case.cause, case.reason = data.amount, data.cause, data.reason
    case.documents = _documents(kind, data.documents)
    case.accepted_at, case.accepted_by = accepted_at, principal.subject
    case.parameters_used, case.updated_at = policy.used(), uow.now()
    await _set_sla(uow, case, policy)
    _history(uow, case, "accepted", principal.subject)
    uow.emit(events.CASE_OPENED, events.CaseOpened(**events.base_data(case), referral_id=case.referral_id), subject=str(case.id))
    return case


# -- decisions -------------------------------------------------------------------------------


def _require_tier_role(principal: Principal, case: ReliefCase, approver: str, action: str) -> None:
    """R-TR-3: the town's approver decides town-tier amounts of its own town; the district
    approver decides district-tier amounts. 403 ``approval_tier`` otherwise."""
    if approver == "town":
        if principal.has_role(TOWN_APPROVER) and principal.town == case.town:
            return
        raise Problem(403, "approval_tier", f"A town-tier case is {action} by its own town's approver (R-TR-3)", approver="town")
    if principal.has_role(DISTRICT_APPROVER):
        return
    raise Problem(403, "approval_tier", f"A district-tier case is {action} by the district approver (R-TR-3)", approver="district")


async def approve_case(
    *, uow: UnitOfWork, principal: Principal, case_id: uuid.UUID, amount: Decimal | None, note: str | None
) -> ReliefCase:
    """Approve an open case (R-TR-3, R-TR-4, R-TR-5).

    ``amount`` (yuan, default the amount requested) sets the tier: ≤ 3,000 the town's approver of
    the case's town, with the town's reserve left for this year covering it; ≤ 5,000 the district
    approver. An emergency case may be approved with documents missing: the paperwork is then due
    in 10 working days (timer ``paperwork_overdue``); an expenditure-type case may not.
    Raises Problem 404, 409 ``case_not_open`` / ``reserve_insufficient`` / ``documents_missing``,
    403 ``approval_tier``, 422 ``over_case_cap`` / ``amount_above_request``. Emits
    ``relief.case.approved``.
    """
    case = await get_case(uow.session, principal, case_id, lock=True)
    if case.status != "open":
        raise Problem(409, "case_not_open", f"The case is {case.status}; only an open case can be approved")
    assert case.amount_requested is not None
    if amount is not None and amount > case.amount_requested:
        raise Problem(422, "amount_above_request",
                      f"The amount approved may not exceed the {format_yuan(case.amount_requested)} yuan requested")
    amount = amount if amount is not None else case.amount_requested
    now = uow.now()
    today = local_date(now)
    policy = await policy_on(uow.session, today)
    tier = approval_tier(amount, town_limit=policy.town_approval_limit, case_cap=policy.case_cap)
    if tier.refused == "over_case_cap":
        _check_cap(amount, policy)
    assert tier.approver is not None
    _require_tier_role(principal, case, tier.approver, "approved")
    if tier.approver == "town":
        left = await funds.reserve_left(uow.session, case.town, today.year)
        if amount > left:
            raise Problem(
                409, "reserve_insufficient",
                f"The town's {today.year} reserve has {format_yuan(left)} yuan left, less than {format_yuan(amount)} (R-TR-4)",
                reserve_left=format_yuan(left),
            )
    missing = rules.missing_documents(case.kind, case.documents)
    if missing and not rules.may_approve_with_missing_documents(case.kind):
        raise Problem(409, "documents_missing", "An expenditure-type case needs its documents before approval (R-TR-5)",
                      missing=missing)
    case.status, case.approver, case.amount_approved = "approved", tier.approver, amount
    case.approved_at, case.approved_by, case.updated_at = now, principal.subject, now
    case.parameters_used = _merge_used(case.parameters_used, policy.used("town_approval_limit", "case_cap"))
    if missing:
        calendar = await load_calendar(uow.session)
        due = rules.paperwork_deadline(now, working_days=policy.paperwork_working_days, calendar=calendar)
        case.paperwork_due_date, case.paperwork_due_at, case.paperwork_provisional = due.deadline_date, due.deadline_at, due.provisional
        case.paperwork_working_days = policy.paperwork_working_days
        case.parameters_used = _merge_used(case.parameters_used, policy.used("paperwork_working_days"))
        await uow.session.flush()
        await _schedule(uow.session, case.id, "paperwork_overdue", due.deadline_at)
    _history(uow, case, "approved", principal.subject, approver=tier.approver, amount=format_yuan(amount),
             missing_documents=missing, note=note, rule="R-TR-3")
    uow.emit(events.CASE_APPROVED, events.CaseApproved(
        **events.base_data(case), approver=tier.approver, approved_at=now, missing_documents=missing,
        paperwork_due_at=case.paperwork_due_at,
    ), subject=str(case.id))
    log.info("relief.case.approved", case_id=str(case.id), town=case.town, approver=tier.approver,
             missing_documents=len(missing))
    return case


def _merge_used(current: list[dict[str, Any]] | None, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {p["id"] for p in current or []}
    return [*(current or []), *(p for p in new if p["id"] not in ids)]


async def refuse_case(*, uow: UnitOfWork, principal: Principal, case_id: uuid.UUID, reason: str) -> ReliefCase:
    """Refuse an open or approved (unpaid) case with a ``reason``. The tier of the amount decides
    who may (R-TR-3); the district approver may refuse any. Pending timers are dropped. Raises
    Problem 404, 409 ``case_not_open``, 403 ``approval_tier``. Emits ``relief.case.refused``."""
    case = await get_case(uow.session, principal, case_id, lock=True)
    if case.status not in rules.OPEN_STATUSES:
        raise Problem(409, "case_not_open", f"The case is {case.status}; it cannot be refused")
    if not principal.has_role(DISTRICT_APPROVER):
        policy = await policy_on(uow.session, local_date(uow.now()))
        amount = case.amount_approved or case.amount_requested or Decimal("0.01")
        tier = approval_tier(amount, town_limit=policy.town_approval_limit, case_cap=policy.case_cap)
        _require_tier_role(principal, case, tier.approver or "district", "refused")
    now = uow.now()
    case.status, case.refused_at, case.refused_by, case.refusal_reason, case.updated_at = "refused", now, principal.subject, reason, now
    await uow.session.flush()
    await _cancel(uow.session, case.id, ("sla_at_risk", "sla_breach", "paperwork_overdue"))
    _history(uow, case, "refused", principal.subject, reason=reason)
    uow.emit(events.CASE_REFUSED, events.CaseRefused(**events.base_data(case), reason=reason), subject=str(case.id))
    log.info("relief.case.refused", case_id=str(case.id), town=case.town)
    return case


def _may_pay(principal: Principal, case: ReliefCase) -> bool:
    if principal.client and "bank" in principal.scopes:
        return True
    if case.approver == "town":
        return principal.has_role(TOWN_APPROVER, TOWN_CASEWORKER) and principal.town == case.town
    return principal.has_role(DISTRICT_APPROVER, DISTRICT_ADMIN)


async def pay_case(
    *, uow: UnitOfWork, principal: Principal, case_id: uuid.UUID, reference: str, amount: Decimal | None
) -> tuple[ReliefCase, CasePayment]:
    """Record the one payment of an approved case (R-TR-3/4), with its bank or finance ``reference``.

    A town-tier case is paid from the town's reserve of the payment's year (the balance row is
    locked; never below zero); a district-tier case from district funds. Pending SLA timers are
    dropped (the paperwork timer stays). Raises Problem 404, 409 ``already_paid`` /
    ``case_not_approved`` / ``reserve_insufficient``, 403 ``forbidden``, 422 ``amount_mismatch``.
    Emits ``relief.case.paid``.
    """
    case = await get_case(uow.session, principal, case_id, lock=True)
    if case.status == "paid":
        raise Problem(409, "already_paid", "This case has already been paid")
    if case.status != "approved":
        raise Problem(409, "case_not_approved", f"The case is {case.status}; only an approved case can be paid")
    if not _may_pay(principal, case):
        raise Problem(403, "forbidden", "Your role may not record the payment of this case")
    assert case.amount_approved is not None and case.approver is not None
    if amount is not None and amount != case.amount_approved:
        raise Problem(422, "amount_mismatch", f"The payment must be the approved {format_yuan(case.amount_approved)} yuan")
    now = uow.now()
    year = local_date(now).year
    entry_id = None
    if case.approver == "town":
        entry = await funds.pay_from_reserve(
            uow=uow, town=case.town, year=year, amount=case.amount_approved, case_id=case.id,
            reference=reference, by=principal.subject,
        )
        entry_id = entry.id
    payment = CasePayment(
        case_id=case.id, amount=case.amount_approved, reference=reference,
        fund="town_reserve" if case.approver == "town" else "district",
        reserve_year=year if case.approver == "town" else None, reserve_entry_id=entry_id,
        paid_at=now, recorded_by=principal.subject,
    )
    uow.session.add(payment)
    case.status, case.paid_at, case.updated_at = "paid", now, now
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Problem(409, "already_paid", "This case has already been paid") from None
    await _cancel(uow.session, case.id, SLA_TIMERS)
    sla_met = None if case.deadline_at is None else now <= case.deadline_at
    _history(uow, case, "paid", principal.subject, reference=reference, fund=payment.fund, sla_met=sla_met)
    uow.emit(events.CASE_PAID, events.CasePaid(
        **events.base_data(case), approver=case.approver, paid_at=now, reference=reference, fund=payment.fund,
        sla_met=sla_met,
    ), subject=str(case.id))
    log.info("relief.case.paid", case_id=str(case.id), town=case.town, fund=payment.fund, sla_met=sla_met)
    return case, payment


async def update_documents(*, uow: UnitOfWork, principal: Principal, case_id: uuid.UUID, items: Sequence[Any]) -> ReliefCase:
    """Mark documents received (or not) in the checklist. When a case approved with papers missing
    (R-TR-5) has them all, its paperwork is complete and its reminder timer is dropped.
    Raises Problem 404, 409 ``case_closed`` (refused or referred)."""
    case = await get_case(uow.session, principal, case_id, lock=True)
    if case.status in ("refused", "referred"):
        raise Problem(409, "case_closed", f"The case is {case.status}")
    received = {str(d["code"]): bool(d["received"]) for d in case.documents}
    received.update({d.code: d.received for d in items})
    case.documents = rules.checklist(case.kind, received)  # type: ignore[arg-type]
    case.updated_at = uow.now()
    missing = rules.missing_documents(case.kind, case.documents)  # type: ignore[arg-type]
    _history(uow, case, "documents_updated", principal.subject, missing=missing)
    if case.paperwork_due_at is not None and case.paperwork_completed_at is None and not missing:
        case.paperwork_completed_at = uow.now()
        await uow.session.flush()
        await _cancel(uow.session, case.id, ("paperwork_overdue",))
        _history(uow, case, "paperwork_completed", principal.subject, rule="R-TR-5")
    return case


async def add_check(*, uow: UnitOfWork, principal: Principal, case_id: uuid.UUID, method: str,
                    checked_at: datetime | None, note: str | None) -> CaseCheck:
    """Record a check of the applicant's situation by phone, WeChat or home visit (R-EP-1)."""
    case = await get_case(uow.session, principal, case_id)
    check = CaseCheck(case_id=case.id, method=method, checked_at=checked_at or uow.now(),
                      checked_by=principal.subject, note=note)
    uow.session.add(check)
    await uow.session.flush()
    return check


# -- calendar --------------------------------------------------------------------------------


async def recompute_for_year(year: int, uow: UnitOfWork) -> int:
    """A calendar year was loaded (``gateway.calendar.year_loaded``): recompute the SLA deadline
    of every open emergency case whose counting may touch ``year`` (acceptance on or before
    31 December, deadline on or after 1 January) and the paperwork deadline of every pending one,
    moving their timers if not fired yet; ``provisional`` clears once no fallback year is used.
    Each case keeps the working-day numbers it was opened with. Returns the number of cases changed."""
    calendar = await load_calendar(uow.session)
    first = date(year, 1, 1)
    end_of_year = datetime(year, 12, 31, tzinfo=TZ) + timedelta(days=1)
    changed = 0
    sla_cases = (await uow.session.scalars(
        select(ReliefCase).where(
            ReliefCase.status.in_(rules.OPEN_STATUSES), ReliefCase.deadline_date >= first,
            ReliefCase.accepted_at < end_of_year,
        ).with_for_update(key_share=True)
    )).all()
    for case in sla_cases:
        assert case.accepted_at is not None and case.sla_working_days is not None
        sla = rules.sla_deadline(case.accepted_at, working_days=case.sla_working_days,
                                 at_risk_working_days=case.at_risk_working_days or 0, calendar=calendar)
        if (sla.deadline_at, sla.at_risk_at, sla.provisional) != (case.deadline_at, case.at_risk_at, case.provisional):
            changed += 1
            _history(uow, case, "deadline_recomputed", "gateway.calendar", year=year,
                     before=case.deadline_date.isoformat() if case.deadline_date else None,
                     after=sla.deadline_date.isoformat(), provisional=sla.provisional)
        case.deadline_date, case.deadline_at, case.at_risk_at, case.provisional = (
            sla.deadline_date, sla.deadline_at, sla.at_risk_at, sla.provisional)
        await uow.session.flush()
        await _reschedule(uow.session, case.id, "sla_at_risk", sla.at_risk_at)
        await _reschedule(uow.session, case.id, "sla_breach", sla.deadline_at)
    paper_cases = (await uow.session.scalars(
        select(ReliefCase).where(
            ReliefCase.paperwork_due_date >= first, ReliefCase.approved_at < end_of_year,
            ReliefCase.paperwork_completed_at.is_(None), ReliefCase.status.in_(("approved", "paid")),
        ).with_for_update(key_share=True)
    )).all()
    for case in paper_cases:
        assert case.approved_at is not None and case.paperwork_working_days is not None
        due = rules.paperwork_deadline(case.approved_at, working_days=case.paperwork_working_days, calendar=calendar)
        if (due.deadline_at, due.provisional) != (case.paperwork_due_at, case.paperwork_provisional):
            changed += 1
        case.paperwork_due_date, case.paperwork_due_at, case.paperwork_provisional = due.deadline_date, due.deadline_at, due.provisional
        await uow.session.flush()
        await _reschedule(uow.session, case.id, "paperwork_overdue", due.deadline_at)
    log.info("relief.calendar.recomputed", year=year, cases=len(sla_cases) + len(paper_cases), changed=changed)
    return changed


async def _reschedule(session: AsyncSession, case_id: uuid.UUID, kind: str, due_at: datetime) -> None:
    """Move a pending timer (a fired one stays as it fired)."""
    await session.execute(
        update(CaseTimer).where(CaseTimer.case_id == case_id, CaseTimer.kind == kind, CaseTimer.fired_at.is_(None))
        .values(due_at=due_at)
    )


# -- lists -----------------------------------------------------------------------------------


def sla_state_clause(state: str, now: datetime):  # noqa: ANN201 - a SQLAlchemy clause
    """SQL condition of R-TR-2 state ``state`` at ``now`` (mirrors :func:`rules.sla_state`)."""
    open_ = ReliefCase.status.in_(rules.OPEN_STATUSES)
    has_sla = ReliefCase.deadline_at.is_not(None)
    if state == "on_track":
        return and_(has_sla, open_, ReliefCase.at_risk_at > now, ReliefCase.deadline_at > now)
    if state == "at_risk":
        return and_(has_sla, open_, ReliefCase.at_risk_at <= now, ReliefCase.deadline_at > now)
    if state == "breached":
        return and_(has_sla, or_(and_(open_, ReliefCase.deadline_at <= now),
                                 and_(ReliefCase.status == "paid", ReliefCase.paid_at > ReliefCase.deadline_at)))
    if state == "met":
        return and_(has_sla, ReliefCase.status == "paid", ReliefCase.paid_at <= ReliefCase.deadline_at)
    return or_(~has_sla, ReliefCase.status.not_in(("open", "approved", "paid")))


def accepted_in_year(year: int):  # noqa: ANN201 - a SQLAlchemy clause
    """SQL condition "accepted (受理) in calendar ``year``, Asia/Shanghai": a half-open range on
    ``accepted_at`` (sargable), the year the R-TR-2 KPIs count a case in. Never-accepted
    (suggested) cases have no ``accepted_at`` and fall in no year."""
    start, end = datetime(year, 1, 1, tzinfo=TZ), datetime(year + 1, 1, 1, tzinfo=TZ)
    return and_(ReliefCase.accepted_at >= start, ReliefCase.accepted_at < end)


@dataclass(frozen=True)
class CaseFilter:
    towns: Sequence[str] | None = None
    status: str | None = None
    kind: str | None = None
    sla_state: str | None = None
    person_id: str | None = None
    household_id: str | None = None
    year: int | None = None  # accepted that year (Asia/Shanghai), see accepted_in_year


def list_query(f: CaseFilter, now: datetime, *, limit: int, after: list[Any] | None) -> Select[tuple[ReliefCase]]:
    """Newest first, keyset on (created_at, id)."""
    query = select(ReliefCase).order_by(ReliefCase.created_at.desc(), ReliefCase.id.desc()).limit(limit + 1)
    if f.year is not None:
        query = query.where(accepted_in_year(f.year))
    if f.towns is not None:
        query = query.where(ReliefCase.town.in_(list(f.towns)))
    if f.status:
        query = query.where(ReliefCase.status == f.status)
    if f.kind:
        query = query.where(ReliefCase.kind == f.kind)
    if f.person_id:
        query = query.where(ReliefCase.person_id == f.person_id)
    if f.household_id:
        query = query.where(ReliefCase.household_id == f.household_id)
    if f.sla_state:
        query = query.where(sla_state_clause(f.sla_state, now))
    if after:
        created, case_id = datetime.fromisoformat(str(after[0])), uuid.UUID(str(after[1]))
        query = query.where(
            or_(ReliefCase.created_at < created, and_(ReliefCase.created_at == created, ReliefCase.id < case_id))
        )
    return query


async def sla_counts(session: AsyncSession, now: datetime, *, towns: Sequence[str], year: int | None) -> dict[str, dict[str, int]]:
    """Per town: emergency cases by R-TR-2 state at ``now`` (``year``: accepted that year)."""
    states = ("on_track", "at_risk", "breached", "met")
    columns = [func.count(sql_case((sla_state_clause(s, now), 1))).label(s) for s in states]
    query = select(ReliefCase.town, *columns).where(ReliefCase.deadline_at.is_not(None), ReliefCase.town.in_(list(towns)))
    if year is not None:
        query = query.where(accepted_in_year(year))
    rows = (await session.execute(query.group_by(ReliefCase.town))).all()
    return {row.town: {s: int(getattr(row, s)) for s in states} for row in rows}
