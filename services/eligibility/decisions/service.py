"""Use cases of decisions and benefits: assess a registered household or person with the rules,
record the decision with its trace, and grant / change / end the benefits it implies — each
with its event (``eligibility.benefit.granted`` / ``.changed`` / ``.ended``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import events
from services.eligibility.decisions import rules
from services.eligibility.decisions.models import Benefit, BenefitPeriod, Decision
from services.eligibility.figures import ZERO, add_months, month_of, month_text, show, show_exact
from services.eligibility.parameters.rules import Parameters
from services.eligibility.parameters.service import parameters_on
from services.eligibility.registry.assessment import HouseholdFigures, household_figures
from services.eligibility.registry.models import Household, Person
from shared.db import UnitOfWork
from shared.errors import Problem

log = structlog.get_logger("eligibility.decisions")

LIVE = ("active", "gradual_exit")
PAYER_STANDARD_CATEGORIES = ("orphan_institutional", "orphan_dispersed", "child_without_care", "revolutionary_veteran")
CATEGORY_RULE = {
    "dibao": "R-DB-4",
    "dibao_single_person": "R-DB-5",
    "tekun": "R-TK-1",
    "orphan_institutional": "R-OR-1",
    "orphan_dispersed": "R-OR-1",
    "child_without_care": "R-OR-2",
    "revolutionary_veteran": "R-OA-1",
}


# --- reading ----------------------------------------------------------------------------------


async def live_benefits(session: AsyncSession, household_id: uuid.UUID, *, lock: bool = False) -> list[Benefit]:
    query = select(Benefit).where(Benefit.household_id == household_id, Benefit.status.in_(LIVE)).order_by(Benefit.created_at)
    if lock:
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


def payee_of(household: Household, members: Sequence[Person]) -> Person:
    """The payee of a household benefit: the head if counted, else the eldest counted member."""
    for person in members:
        if person.id == household.head_person_id:
            return person
    return sorted(members, key=lambda p: p.birth_date)[0]


# --- the benefit lifecycle (each step emits its event) --------------------------------------


def _benefit_data(benefit: Benefit) -> dict[str, Any]:
    return dict(
        benefit_id=str(benefit.id),
        household_id=str(benefit.household_id),
        person_id=str(benefit.person_id),
        category=benefit.category,
        monthly_amount=benefit.monthly_amount,
        effective_month=benefit.effective_month,
        members=list(benefit.members),
        town=benefit.town,
        village=benefit.village,
        decision_id=str(benefit.decision_id),
        rule=benefit.rule,
        amount_basis=benefit.amount_basis,
        status=benefit.status,
        gradual_exit_until=benefit.gradual_exit_until,
    )


def record_period(uow: UnitOfWork, benefit: Benefit, from_month: date) -> None:
    """Keep the benefit's amount, member count and town from ``from_month`` on in its history
    (``benefit_periods``, the R-DB-8 KPIs' source): a later row wins for the months it covers."""
    uow.session.add(BenefitPeriod(
        benefit_id=benefit.id, from_month=from_month, monthly_amount=benefit.monthly_amount,
        members=len(benefit.members), town=benefit.town, recorded_at=uow.now(),
    ))


def grant(
    uow: UnitOfWork,
    *,
    household: Household,
    person_id: uuid.UUID,
    category: str,
    amount: Decimal,
    effective_month: date,
    members: Sequence[uuid.UUID],
    decision: Decision,
    basis_members: int = 1,
    basis_net_income_12m: Decimal = Decimal(0),
    assessed_on: date | None = None,
) -> Benefit:
    """A new benefit from ``effective_month``; emits ``eligibility.benefit.granted``."""
    now = uow.now()
    benefit = Benefit(
        id=uuid.uuid4(),
        household_id=household.id,
        person_id=person_id,
        town=household.town,
        village=household.village,
        category=category,
        monthly_amount=amount,
        members=[str(m) for m in members],
        effective_month=effective_month,
        status="active",
        decision_id=decision.id,
        rule=CATEGORY_RULE[category],
        amount_basis="payer_standard" if category in PAYER_STANDARD_CATEGORIES else "rule",
        basis_members=basis_members,
        basis_net_income_12m=basis_net_income_12m,
        assessed_on=assessed_on,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(benefit)
    record_period(uow, benefit, effective_month)
    decision.benefit_id = benefit.id
    uow.emit(events.BENEFIT_GRANTED, events.BenefitData(**_benefit_data(benefit)), subject=str(benefit.id))
    log.info("eligibility.benefit.granted", benefit_id=str(benefit.id), category=category, effective_month=month_text(effective_month))
    return benefit


def change(
    uow: UnitOfWork,
    benefit: Benefit,
    *,
    decision: Decision,
    reason: str,
    effective_month: date,
    amount: Decimal | None = None,
    members: Sequence[uuid.UUID] | None = None,
    person_id: uuid.UUID | None = None,
    status: str | None = None,
    gradual_exit_until: date | None = None,
    basis_members: int | None = None,
    basis_net_income_12m: Decimal | None = None,
    assessed_on: date | None = None,
) -> bool:
    """Change a live benefit from ``effective_month``; emits ``eligibility.benefit.changed`` with
    ``previous_amount`` when anything consumers see changed. Returns whether it did."""
    previous = benefit.monthly_amount
    before = (benefit.monthly_amount, list(benefit.members), benefit.person_id, benefit.status, benefit.gradual_exit_until)
    if amount is not None:
        benefit.monthly_amount = amount
    if members is not None:
        benefit.members = [str(m) for m in members]
    if person_id is not None:
        benefit.person_id = person_id
    if status is not None:
        benefit.status = status
        benefit.gradual_exit_until = gradual_exit_until
    if basis_members is not None:
        benefit.basis_members = basis_members
    if basis_net_income_12m is not None:
        benefit.basis_net_income_12m = basis_net_income_12m
    if assessed_on is not None:
        benefit.assessed_on = assessed_on
    after = (benefit.monthly_amount, list(benefit.members), benefit.person_id, benefit.status, benefit.gradual_exit_until)
    decision.benefit_id = benefit.id
    if before == after:
        return False
    benefit.decision_id = decision.id
    benefit.updated_at = uow.now()
    record_period(uow, benefit, effective_month)
    data = _benefit_data(benefit) | {"effective_month": effective_month}
    uow.emit(
        events.BENEFIT_CHANGED,
        events.BenefitChangedData(**data, previous_amount=previous, change_reason=reason),
        subject=str(benefit.id),
    )
    log.info("eligibility.benefit.changed", benefit_id=str(benefit.id), reason=reason, effective_month=month_text(effective_month))
    return True


def end(uow: UnitOfWork, benefit: Benefit, *, last_month: date, reason: str, decision: Decision | None) -> None:
    """End a benefit: payable up to and including ``last_month``; emits
    ``eligibility.benefit.ended``. Reasons: income_above_standard, deceased, moved_away,
    gradual_exit_ended, withdrawn, chose_orphan_allowance, no_longer_eligible."""
    benefit.status = "ended"
    benefit.last_month = last_month
    benefit.end_reason = reason
    benefit.review_on = None
    benefit.updated_at = uow.now()
    if decision is not None:
        benefit.decision_id = decision.id
        decision.benefit_id = decision.benefit_id or benefit.id
    uow.emit(
        events.BENEFIT_ENDED,
        events.BenefitEndedData(
            benefit_id=str(benefit.id),
            household_id=str(benefit.household_id),
            person_id=str(benefit.person_id),
            category=benefit.category,
            last_month=last_month,
            reason=reason,
            decision_id=str(decision.id) if decision is not None else None,
            town=benefit.town,
        ),
        subject=str(benefit.id),
    )
    log.info("eligibility.benefit.ended", benefit_id=str(benefit.id), reason=reason, last_month=month_text(last_month))


def new_decision(
    uow: UnitOfWork,
    *,
    household: Household,
    category: str,
    kind: str,
    outcome: str,
    assessed_on: date,
    amount: Decimal,
    rule_ids: Sequence[str],
    trace: dict[str, Any],
    decided_by: str,
    person_id: uuid.UUID | None = None,
    effective_month: date | None = None,
    application_id: uuid.UUID | None = None,
    note: str | None = None,
) -> Decision:
    decision = Decision(
        id=uuid.uuid4(),
        household_id=household.id,
        person_id=person_id,
        town=household.town,
        category=category,
        kind=kind,
        outcome=outcome,
        assessed_on=assessed_on,
        effective_month=effective_month,
        monthly_amount=amount,
        application_id=application_id,
        rules=list(rule_ids),
        trace=trace,
        decided_by=decided_by,
        note=note,
        created_at=uow.now(),
    )
    uow.session.add(decision)
    return decision


# --- dibao of a registered household ----------------------------------------------------------


@dataclass
class DibaoAssessment:
    result: rules.DibaoResult
    figures: HouseholdFigures
    params: Parameters

    def trace(self) -> dict[str, Any]:
        trace = self.result.trace()
        trace["registry"] = registry_trace(self.figures)
        return trace


def registry_trace(figures: HouseholdFigures) -> dict[str, Any]:
    """How the registry's entries became the rule's inputs (windows, excluded income)."""
    return {
        "window": [month_text(figures.window[0]), month_text(figures.window[1])],
        "members": [str(p.id) for p in figures.members],
        "income_by_source": {k: show_exact(v) for k, v in sorted(figures.income_by_source.items())},
        "excluded_income_12m": show(figures.excluded_income_12m),
        "expenditure_12m": {k: show(v) for k, v in sorted(figures.expenditure_12m.items())},
    }


async def assess_household(
    session: AsyncSession, household: Household, on: date, *, previous_benefit: Decimal | None, figures_on: date | None = None
) -> DibaoAssessment:
    """R-DB-2..6 on the registry's figures of ``household`` seen from ``figures_on`` (default
    ``on``) with the parameters in force on ``on``.

    Raises Problem 422 ``no_members`` when nobody is counted (everyone deceased or away)."""
    figures = await household_figures(session, household, figures_on or on)
    if not figures.members:
        raise Problem(422, "no_members", "the household has no member living together")
    params = await parameters_on(session, on)
    conditions = tuple(
        rules.MemberCondition(
            disability_grade=p.disability_grade,
            disability_kind=p.disability_kind,
            serious_illness=p.serious_illness,
            own_income_12m=figures.own_income_12m.get(p.id, ZERO),
            person_id=str(p.id),
        )
        for p in figures.members
        if rules.qualifies_alone(rules.MemberCondition(p.disability_grade, p.disability_kind, p.serious_illness)) is not None
    )
    deductions = {k: v for k, v in figures.expenditure_12m.items() if k in rules.DEDUCTIBLE_CATEGORIES}
    data = rules.DibaoInput(
        assessed_on=on,
        members=len(figures.members),
        income_12m=figures.income_12m,
        deductions_12m=deductions,
        financial_assets=figures.financial_assets,
        disqualifying_assets=tuple(figures.disqualifying_assets),
        member_conditions=conditions,
        registered_poor=household.registered_poor,
        previous_benefit=previous_benefit,
    )
    return DibaoAssessment(rules.assess_dibao(data, params), figures, params)


def _net_basis(value: Any) -> Decimal:
    """The assessed net income kept on a benefit for set-based recalculation (4 places)."""
    from fractions import Fraction

    frac = value if isinstance(value, Fraction) else Fraction(value)
    return (Decimal(frac.numerator) / Decimal(frac.denominator)).quantize(Decimal("0.0001"))


async def apply_dibao(
    *,
    uow: UnitOfWork,
    household: Household,
    on: date,
    kind: str,
    decided_by: str,
    effective_month: date | None = None,
    application_id: uuid.UUID | None = None,
    note: str | None = None,
    grant_new: bool = True,
    change_reason: str = "reassessment",
    figures_on: date | None = None,
) -> tuple[Decision, list[Benefit]]:
    """Assess the household's dibao on ``on`` and bring its benefits in line (R-DB-3..6).

    ``effective_month`` of a grant or change defaults to the month after ``on`` (R-DB-9: payment
    starts the month after approval). ``grant_new`` False only adjusts existing benefits (a death
    or move never grants). ``figures_on``: read incomes and expenditure as of that date instead
    of ``on`` (a member's death reuses the figures of the last assessment). Returns the decision
    and the benefits touched.
    """
    session = uow.session
    effective = effective_month or rules.payment_start(on)
    live = await live_benefits(session, household.id, lock=True)
    household_benefit = next((b for b in live if b.category == "dibao"), None)
    singles = {b.person_id: b for b in live if b.category == "dibao_single_person"}
    # R-DB-6 reads the amount being paid (in a gradual exit too: it is kept, not recomputed).
    previous = household_benefit.monthly_amount if household_benefit is not None else None
    assessment = await assess_household(session, household, on, previous_benefit=previous, figures_on=figures_on)
    basis_on = figures_on or on
    result = assessment.result
    members = assessment.figures.members
    payee = payee_of(household, members)
    decision = new_decision(
        uow,
        household=household,
        category="dibao_single_person" if result.outcome == "single_person_inclusion" else "dibao",
        kind=kind,
        outcome=result.outcome,
        assessed_on=on,
        amount=result.monthly_benefit,
        rule_ids=result.rules,
        trace=assessment.trace(),
        decided_by=decided_by,
        effective_month=effective if result.outcome in ("eligible", "single_person_inclusion") else None,
        application_id=application_id,
        note=note,
    )
    touched: list[Benefit] = []
    month = month_of(on)
    member_ids = [p.id for p in members]
    net_basis = _net_basis(result.net_income_12m)

    if result.outcome == "eligible":
        if household_benefit is None:
            if grant_new:
                touched.append(grant(uow, household=household, person_id=payee.id, category="dibao", amount=result.monthly_benefit,
                                     effective_month=effective, members=member_ids, decision=decision,
                                     basis_members=result.members, basis_net_income_12m=net_basis, assessed_on=basis_on))
        else:
            change(uow, household_benefit, decision=decision, reason=change_reason, effective_month=effective,
                   amount=result.monthly_benefit, members=member_ids, person_id=payee.id, status="active",
                   gradual_exit_until=None, basis_members=result.members, basis_net_income_12m=net_basis, assessed_on=basis_on)
            touched.append(household_benefit)
        for single in singles.values():  # now covered with the household
            end(uow, single, last_month=add_months(effective, -1), reason="withdrawn", decision=decision)
            touched.append(single)
    elif result.outcome == "gradual_exit":
        assert household_benefit is not None and result.gradual_exit_last_month is not None
        if household_benefit.status != "gradual_exit":
            change(uow, household_benefit, decision=decision, reason="gradual_exit_started", effective_month=effective,
                   status="gradual_exit", gradual_exit_until=result.gradual_exit_last_month)
            decision.effective_month = effective
        touched.append(household_benefit)
    else:
        if household_benefit is not None:
            last = result.exit_last_month or month
            if household_benefit.status == "gradual_exit" and household_benefit.gradual_exit_until is not None:
                last = household_benefit.gradual_exit_until  # an exit already under way keeps its term
            end(uow, household_benefit, last_month=last, reason="income_above_standard", decision=decision)
            touched.append(household_benefit)
        covered = {uuid.UUID(s.person_id): s for s in result.single_person_benefits if s.person_id}
        for person_id, single in covered.items():
            existing = singles.pop(person_id, None)
            own = assessment.figures.own_income_12m.get(person_id, ZERO)
            if existing is None:
                if grant_new:
                    touched.append(grant(uow, household=household, person_id=person_id, category="dibao_single_person",
                                         amount=single.monthly_benefit, effective_month=effective, members=[person_id],
                                         decision=decision, basis_members=1, basis_net_income_12m=_net_basis(own), assessed_on=basis_on))
            else:
                change(uow, existing, decision=decision, reason=change_reason, effective_month=effective,
                       amount=single.monthly_benefit, basis_members=1, basis_net_income_12m=_net_basis(own), assessed_on=basis_on)
                touched.append(existing)
        for single in singles.values():  # no longer qualifying alone
            end(uow, single, last_month=month, reason="no_longer_eligible", decision=decision)
            touched.append(single)
    await session.flush()
    log.info("eligibility.dibao.assessed", household_id=str(household.id), outcome=result.outcome, kind=kind)
    return decision, touched


# --- tekun, orphans, children without care, veterans ------------------------------------------


async def assess_person_tekun(session: AsyncSession, person: Person, household: Household, on: date) -> tuple[rules.TekunResult, Parameters]:
    figures = await household_figures(session, household, on)
    params = await parameters_on(session, on)
    live = {b.category for b in await live_benefits(session, household.id) if b.person_id == person.id}
    data = rules.TekunInput(
        assessed_on=on,
        birth_date=person.birth_date,
        disability_grade=person.disability_grade,
        disability_kind=person.disability_kind,
        own_income_12m=figures.own_income_12m.get(person.id, ZERO),
        supporters=tuple(rules.Supporter(s.get("relation", ""), bool(s.get("able_to_support"))) for s in person.supporters or []),
        school_enrolment=person.school_enrolment,
        currently_tekun="tekun" in live,
        chose_orphan_allowance=bool(live & {"orphan_institutional", "orphan_dispersed", "child_without_care"}),
    )
    return rules.assess_tekun(data, params), params


def child_input(person: Person, on: date) -> rules.ChildInput:
    parents = [rules.Parent(
        situation=p.get("situation", "none"),
        missing_since=date.fromisoformat(p["missing_since"]) if p.get("missing_since") else None,
        disability_grade=p.get("disability_grade"),
        disability_kind=p.get("disability_kind"),
    ) for p in (person.parents or [])]
    while len(parents) < 2:
        parents.append(rules.Parent())
    return rules.ChildInput(
        assessed_on=on, birth_date=person.birth_date, parents=(parents[0], parents[1]),
        school_enrolment=person.school_enrolment, in_institution=person.orphan == "institutional",
    )


async def apply_person_category(
    *,
    uow: UnitOfWork,
    household: Household,
    person: Person,
    category: str,
    on: date,
    kind: str,
    decided_by: str,
    effective_month: date | None = None,
    application_id: uuid.UUID | None = None,
    note: str | None = None,
) -> tuple[Decision, list[Benefit]]:
    """Assess one person for ``tekun`` (R-TK-1), ``orphan`` / ``child_without_care`` (R-OR-1/2) or
    ``revolutionary_veteran`` (R-OA-1) and grant, change or end the benefit."""
    session = uow.session
    effective = effective_month or rules.payment_start(on)
    params = await parameters_on(session, on)
    granted_category: str | None
    amount = Decimal("0.00")
    support_until: date | None = None
    if category == "tekun":
        result, _ = await assess_person_tekun(session, person, household, on)
        granted_category = "tekun" if result.eligible else None
        amount = result.monthly_basic_living
        support_until = result.support_until
        trace, rule_ids, outcome = result.trace(), result.rules, ("eligible" if result.eligible else "not_eligible")
        trace["self_care"] = self_care_trace(person)
    elif category in ("orphan", "child_without_care"):
        child = rules.assess_child(child_input(person, on), params)
        granted_category = child.category
        trace, rule_ids, outcome = child.trace(), child.rules, (child.category or "not_eligible")
    elif category == "revolutionary_veteran":
        eligible = person.revolutionary_veteran and person.status == "active"
        granted_category = "revolutionary_veteran" if eligible else None
        rule_ids = ("R-OA-1",)
        outcome = "eligible" if eligible else "not_eligible"
        trace = {"rules": ["R-OA-1"], "inputs": {"revolutionary_veteran": person.revolutionary_veteran, "status": person.status},
                 "parameters": [], "figures": {}, "reasons": [] if eligible else ["not_a_recorded_veteran"], "outcome": outcome}
    else:
        raise Problem(422, "unknown_category", f"unknown category {category!r}")
    decision = new_decision(
        uow, household=household, category=granted_category or category, kind=kind, outcome=outcome, assessed_on=on,
        amount=amount if granted_category else Decimal("0.00"), rule_ids=rule_ids, trace=trace, decided_by=decided_by,
        person_id=person.id, effective_month=effective if granted_category else None, application_id=application_id, note=note,
    )
    live = [b for b in await live_benefits(session, household.id, lock=True) if b.person_id == person.id]
    family = {
        "tekun": {"tekun"},
        "orphan": {"orphan_institutional", "orphan_dispersed", "child_without_care"},
        "child_without_care": {"orphan_institutional", "orphan_dispersed", "child_without_care"},
        "revolutionary_veteran": {"revolutionary_veteran"},
    }[category]
    touched: list[Benefit] = []
    current = [b for b in live if b.category in family]
    for benefit in current:
        if benefit.category == granted_category:
            if granted_category == "tekun":
                change(uow, benefit, decision=decision, reason="reassessment", effective_month=effective, amount=amount)
            touched.append(benefit)
        else:
            end(uow, benefit, last_month=add_months(effective, -1), reason="no_longer_eligible", decision=decision)
            touched.append(benefit)
    if granted_category and not any(b.category == granted_category for b in current):
        touched.append(grant(uow, household=household, person_id=person.id, category=granted_category,
                             amount=amount if granted_category == "tekun" else Decimal("0.00"),
                             effective_month=effective, members=[person.id], decision=decision))
        if granted_category in ("orphan_institutional", "orphan_dispersed", "child_without_care"):
            for benefit in live:
                if benefit.category == "tekun":  # R-TK-1: the minor chose the allowance
                    end(uow, benefit, last_month=add_months(effective, -1), reason="chose_orphan_allowance", decision=decision)
                    touched.append(benefit)
    if granted_category == "tekun":
        for benefit in touched:
            if benefit.category == "tekun" and benefit.status != "ended":
                # R-TK-1: support granted only as a minor is reviewed on the 18th birthday.
                benefit.review_on = support_until
    await session.flush()
    return decision, touched


def self_care_trace(person: Person) -> dict[str, Any] | None:
    """The person's R-TK-2 self-care level as the care service last assessed it (recorded from
    ``care.selfcare.assessed``), for a tekun decision's trace; None before any assessment."""
    if person.self_care_level is None:
        return None
    return {"level": person.self_care_level,
            "assessed_on": person.self_care_assessed_on.isoformat() if person.self_care_assessed_on else None,
            "assessment_id": person.self_care_assessment_id, "rule": "R-TK-2", "source": "care.selfcare.assessed"}


# --- deaths and moves -------------------------------------------------------------------------


async def person_left(
    *, uow: UnitOfWork, household: Household, person: Person, on: date, reason: str, decided_by: str
) -> list[Benefit]:
    """A member died (``deceased``) or moved away (``moved_away``) on ``on``: every benefit of the
    person ends with the month of ``on`` as last month; a household dibao benefit covering others
    is reassessed without the person from the next month (their payee changes if needed)."""
    session = uow.session
    month = month_of(on)
    touched: list[Benefit] = []
    live = await live_benefits(session, household.id, lock=True)
    personal = [b for b in live if b.category != "dibao" and b.person_id == person.id]
    household_benefit = next((b for b in live if b.category == "dibao" and str(person.id) in b.members), None)
    kind = "death" if reason == "deceased" else "move"
    for benefit in personal:
        decision = new_decision(
            uow, household=household, category=benefit.category, kind=kind, outcome="ended", assessed_on=on,
            amount=Decimal("0.00"), rule_ids=(benefit.rule,), person_id=person.id, decided_by=decided_by,
            trace={"rules": [benefit.rule], "inputs": {"person_id": str(person.id), "date": on.isoformat(), "reason": reason},
                   "parameters": [], "figures": {"last_month": month_text(month)}, "reasons": [reason], "outcome": "ended"},
        )
        end(uow, benefit, last_month=month, reason=reason, decision=decision)
        touched.append(benefit)
    if household_benefit is not None:
        others = [m for m in household_benefit.members if m != str(person.id)]
        if not others:
            decision = new_decision(
                uow, household=household, category="dibao", kind=kind, outcome="ended", assessed_on=on,
                amount=Decimal("0.00"), rule_ids=("R-DB-4",), person_id=person.id, decided_by=decided_by,
                trace={"rules": ["R-DB-4"], "inputs": {"person_id": str(person.id), "date": on.isoformat(), "reason": reason},
                       "parameters": [], "figures": {"last_month": month_text(month)}, "reasons": [reason], "outcome": "ended"},
            )
            end(uow, household_benefit, last_month=month, reason=reason, decision=decision)
            touched.append(household_benefit)
        else:
            reassess_on = add_months(month, 1)
            _, changed = await apply_dibao(
                uow=uow, household=household, on=reassess_on, kind=kind, decided_by=decided_by,
                effective_month=reassess_on, grant_new=False, figures_on=household_benefit.assessed_on,
                change_reason="member_deceased" if reason == "deceased" else "member_moved",
                note=f"member {person.id} {reason} on {on.isoformat()}",
            )
            touched.extend(changed)
    return touched
