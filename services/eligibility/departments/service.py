"""Apply other departments' rows to the registry, one row at a time, each reported.

Deaths end every benefit of the person from the month after the death (last month = the month of
death) and emit ``eligibility.person.deceased``; moves out of the district end them too
(``moved_away``); moves within it carry the person (and their own benefits) to the new town.
Disability certificates update the member; medical expenses and income data become
expenditure / income entries of the household, mark it for monitoring (R-RM-1: a household
another department reports on) and re-evaluate it.
"""

from __future__ import annotations

import uuid


import structlog
from sqlalchemy import select

from services.eligibility import events
from services.eligibility.decisions import service as decisions
from services.eligibility.departments.schemas import (
    DeathRow,
    DisabilityCertificateRow,
    IncomeRow,
    MedicalExpenseRow,
    MoveRow,
    RowReport,
)
from services.eligibility.figures import local_date
from services.eligibility.monitoring.service import evaluate_household
from services.eligibility.registry import service as registry
from services.eligibility.registry.models import Expenditure, Household, Income, Person
from services.eligibility.registry.service import Actor
from shared.db import UnitOfWork

log = structlog.get_logger("eligibility.departments")


class RowRejected(Exception):
    """A row not applied because of the registry's state (unknown person, person not active …):
    recorded for staff; the department is told only that the row was accepted."""

    told = False

    def __init__(self, code: str, message: str, field: str = "id_number") -> None:
        super().__init__(message)
        self.error = {"field": field, "code": code, "message": message}


class RowInvalid(RowRejected):
    """A row rejected for its own content (e.g. a date after today), checked before the registry
    is looked at: the department is told, whoever the person is."""

    told = True


async def _person(uow: UnitOfWork, id_number: str) -> tuple[Person, Household]:
    person = await registry.person_by_id_number(uow.session, id_number)
    if person is None:
        raise RowRejected("unknown_person", "no registered person has this ID number")
    household = await uow.session.get(Household, person.household_id, with_for_update=True)
    assert household is not None
    await uow.session.refresh(person, with_for_update=True)
    return person, household


async def _close_if_empty(uow: UnitOfWork, household: Household) -> None:
    members = await registry.members_of(uow.session, household.id)
    if not any(p.status == "active" for p in members):
        household.status = "closed"
        household.monitoring_due_on = None


async def apply_death(uow: UnitOfWork, actor: Actor, row: DeathRow) -> RowReport:
    if row.died_on > local_date(uow.now()):
        raise RowInvalid("future_date", "died_on is after today", "died_on")
    person, household = await _person(uow, row.id_number)
    if person.status == "deceased":
        return RowReport(row=0, status="duplicate", person_id=person.id, household_id=household.id)
    before = {"status": person.status, "deceased_on": None}
    person.status, person.deceased_on, person.updated_at = "deceased", row.died_on, uow.now()
    await uow.session.flush()
    uow.emit(events.PERSON_DECEASED, events.PersonDeceasedData(person_id=str(person.id), household_id=str(household.id),
                                                                 died_on=row.died_on, town=household.town), subject=str(person.id))
    await decisions.person_left(uow=uow, household=household, person=person, on=row.died_on, reason="deceased", decided_by=actor.subject)
    if household.head_person_id == person.id:
        remaining = [p for p in await registry.members_of(uow.session, household.id) if p.status == "active"]
        household.head_person_id = remaining[0].id if remaining else household.head_person_id
    await _close_if_empty(uow, household)
    registry.touch(uow, household)
    registry.record_change(uow, actor, household.id, "member_deceased",
                           {"status": [before["status"], "deceased"], "deceased_on": [None, row.died_on], "reference": row.reference},
                           person_id=person.id)
    await registry.emit_household(uow, household)
    log.info("eligibility.person.deceased", person_id=str(person.id))
    return RowReport(row=0, status="applied", person_id=person.id, household_id=household.id)


async def apply_move(uow: UnitOfWork, actor: Actor, row: MoveRow) -> RowReport:
    if row.moved_on > local_date(uow.now()):
        raise RowInvalid("future_date", "moved_on is after today", "moved_on")
    person, household = await _person(uow, row.id_number)
    if person.status != "active":
        raise RowRejected("person_not_active", f"the person is {person.status}")
    from_town = household.town
    if row.to_town is None:
        person.status, person.moved_on, person.updated_at = "moved_away", row.moved_on, uow.now()
        await uow.session.flush()
        await decisions.person_left(uow=uow, household=household, person=person, on=row.moved_on, reason="moved_away", decided_by=actor.subject)
        await _close_if_empty(uow, household)
        registry.touch(uow, household)
        registry.record_change(uow, actor, household.id, "member_moved_away",
                               {"status": ["active", "moved_away"], "moved_on": [None, row.moved_on], "reference": row.reference}, person_id=person.id)
        target_id: uuid.UUID | None = None
        await registry.emit_household(uow, household)
    else:
        if (row.to_town, row.to_village) == (household.town, household.village):
            return RowReport(row=0, status="duplicate", person_id=person.id, household_id=household.id)
        active = [p for p in await registry.members_of(uow.session, household.id) if p.status == "active"]
        if len(active) == 1:
            changed = registry.apply_fields(household, {"town": row.to_town, "village": row.to_village})
            registry.touch(uow, household)
            registry.record_change(uow, actor, household.id, "household_moved", changed | {"reference": row.reference}, person_id=person.id)
            await _move_benefits(uow, household, [b for b in await decisions.live_benefits(uow.session, household.id, lock=True)], actor, "household_moved")
            target_id = household.id
            await registry.emit_household(uow, household)
        else:
            now = uow.now()
            target = Household(id=uuid.uuid4(), town=row.to_town, village=row.to_village, address=household.address,
                               registered_poor=household.registered_poor, ex_poor=household.ex_poor, edge=household.edge,
                               lonely_elderly=False, irregular_income=household.irregular_income, department_data=household.department_data,
                               head_person_id=person.id, status="active", revision=1, created_at=now, updated_at=now)
            uow.session.add(target)
            await uow.session.flush()
            own = [b for b in await decisions.live_benefits(uow.session, household.id, lock=True) if b.person_id == person.id and b.category != "dibao"]
            old_relation = person.relation
            person.household_id, person.relation, person.moved_on, person.updated_at = target.id, "head", row.moved_on, now
            await uow.session.flush()
            for benefit in own:
                benefit.household_id = target.id
            await _move_benefits(uow, target, own, actor, "member_moved")
            dibao = next((b for b in await decisions.live_benefits(uow.session, household.id, lock=True) if b.category == "dibao"), None)
            if dibao is not None and str(person.id) in dibao.members:
                await decisions.person_left(uow=uow, household=household, person=person, on=row.moved_on, reason="moved_away", decided_by=actor.subject)
            if household.head_person_id == person.id:
                household.head_person_id = next((p.id for p in active if p.id != person.id), None)
            registry.touch(uow, household)
            registry.record_change(uow, actor, household.id, "member_moved_out", {"to_household_id": target.id, "relation": [old_relation, "head"],
                                                                                  "reference": row.reference}, person_id=person.id)
            registry.record_change(uow, actor, target.id, "registered_by_move", {"from_household_id": household.id, "town": row.to_town,
                                                                                 "village": row.to_village}, person_id=person.id)
            await registry.emit_household(uow, household)
            await registry.emit_household(uow, target, registered=True)
            target_id = target.id
    uow.emit(events.PERSON_MOVED, events.PersonMovedData(person_id=str(person.id), household_id=str(household.id), from_town=from_town,
                                                          to_town=row.to_town, moved_on=row.moved_on,
                                                          to_household_id=str(target_id) if target_id else None), subject=str(person.id))
    return RowReport(row=0, status="applied", person_id=person.id, household_id=target_id or household.id)


async def _move_benefits(uow: UnitOfWork, household: Household, benefits: list, actor: Actor, reason: str) -> None:  # noqa: ANN001
    """Benefits that follow a move carry the new town (and household): ``benefit.changed``."""
    from services.eligibility.figures import add_months, month_of

    effective = add_months(month_of(local_date(uow.now())), 1)
    for benefit in benefits:
        benefit.town, benefit.village = household.town, household.village
        decision = decisions.new_decision(
            uow, household=household, category=benefit.category, kind="move", outcome="moved", assessed_on=local_date(uow.now()),
            amount=benefit.monthly_amount, rule_ids=(benefit.rule,), decided_by=actor.subject, person_id=benefit.person_id,
            effective_month=effective,
            trace={"rules": [benefit.rule], "inputs": {"town": household.town, "village": household.village}, "parameters": [],
                   "figures": {}, "reasons": [reason], "outcome": "moved"},
        )
        benefit.decision_id = decision.id
        decision.benefit_id = benefit.id
        decisions.record_period(uow, benefit, effective)
        data = decisions._benefit_data(benefit) | {"effective_month": effective}
        uow.emit(events.BENEFIT_CHANGED, events.BenefitChangedData(**data, previous_amount=benefit.monthly_amount, change_reason=reason),
                 subject=str(benefit.id))


async def apply_certificate(uow: UnitOfWork, actor: Actor, row: DisabilityCertificateRow) -> RowReport:
    person, household = await _person(uow, row.id_number)
    if row.revoked:
        if person.disability_certificate != row.certificate_number:
            raise RowRejected("unknown_certificate", "the person does not hold this certificate", "certificate_number")
        fields = {"disability_grade": None, "disability_kind": None, "disability_certificate": None}
    else:
        fields = {"disability_grade": row.disability_grade, "disability_kind": row.disability_kind, "disability_certificate": row.certificate_number}
    changed = registry.apply_fields(person, fields)
    if not changed:
        return RowReport(row=0, status="duplicate", person_id=person.id, household_id=household.id)
    person.updated_at = uow.now()
    registry.touch(uow, household)
    registry.record_change(uow, actor, household.id, "disability_certificate", changed | {"reference": row.reference, "issued_on": row.issued_on}, person_id=person.id)
    await registry.emit_household(uow, household)
    return RowReport(row=0, status="applied", person_id=person.id, household_id=household.id)


async def _mark_reported(uow: UnitOfWork, household: Household, trigger: str) -> None:
    household.department_data = True
    await evaluate_household(uow=uow, household=household, trigger=trigger)


async def apply_medical_expense(uow: UnitOfWork, actor: Actor, row: MedicalExpenseRow, reported_by: str) -> RowReport:
    person, household = await _person(uow, row.id_number)
    if await uow.session.scalar(select(Expenditure.id).where(Expenditure.reported_by == reported_by, Expenditure.reference == row.reference)):
        return RowReport(row=0, status="duplicate", person_id=person.id, household_id=household.id)
    entry = Expenditure(household_id=household.id, person_id=person.id, category="medical", first_month=row.month, last_month=row.month,
                        amount=row.amount, reported_by=reported_by, reference=row.reference, created_at=uow.now())
    uow.session.add(entry)
    await uow.session.flush()
    registry.touch(uow, household)
    registry.record_change(uow, actor, household.id, "expenditure_added", {"expenditure_id": entry.id, "category": "medical", "amount": row.amount,
                                                                           "month": row.month, "reported_by": reported_by, "reference": row.reference}, person_id=person.id)
    await _mark_reported(uow, household, "medical_expense")
    return RowReport(row=0, status="applied", person_id=person.id, household_id=household.id)


async def apply_income(uow: UnitOfWork, actor: Actor, row: IncomeRow, reported_by: str) -> RowReport:
    person, household = await _person(uow, row.id_number)
    if await uow.session.scalar(select(Income.id).where(Income.reported_by == reported_by, Income.reference == row.reference)):
        return RowReport(row=0, status="duplicate", person_id=person.id, household_id=household.id)
    entry = Income(household_id=household.id, person_id=person.id, source=row.source, first_month=row.first_month, last_month=row.last_month,
                   amount=row.amount, reported_by=reported_by, reference=row.reference, created_at=uow.now())
    uow.session.add(entry)
    await uow.session.flush()
    registry.touch(uow, household)
    registry.record_change(uow, actor, household.id, "income_added", {"income_id": entry.id, "source": row.source, "amount": row.amount,
                                                                      "first_month": row.first_month, "last_month": row.last_month,
                                                                      "reported_by": reported_by, "reference": row.reference}, person_id=person.id)
    await _mark_reported(uow, household, "income_data")
    return RowReport(row=0, status="applied", person_id=person.id, household_id=household.id)


