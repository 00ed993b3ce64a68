"""Use cases of dispersed support (R-TK-5): care contracts, supervisions, the overdue sweep."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert

from services.care import events
from services.care.common import ensure_not_future, today
from services.care.dispersed import rules
from services.care.dispersed.models import CareContract, Supervision, SupervisionOverdue
from services.care.emit import emit_many
from services.care.parameters.service import parameters_on
from services.care.persons.models import Person
from services.care.persons.service import ensure_alive, ensure_record_visible, person_ref, visible_person
from services.care.placement.models import Placement
from shared.auth import Principal
from shared.clock import SHANGHAI
from shared.db import UnitOfWork
from shared.errors import Problem, not_found

log = structlog.get_logger("care.dispersed")

PERIOD_MONTHS = "supervision_period_months"


async def create_contract(
    *, uow: UnitOfWork, principal: Principal, person_id: uuid.UUID, institution: str, institution_code: str | None,
    starts_on: date, ends_on: date | None,
) -> CareContract:
    """A care contract for a dispersed tekun person; its supervision period is the parameter in
    force on ``starts_on``. 409 ``not_tekun``, ``person_deceased``, ``centralized`` (in a care
    home), ``contract_exists`` (an active one); 422 ``ends_before_start``."""
    person = await visible_person(uow, principal, person_id, for_update=True)
    ensure_alive(person)
    if not person.tekun:
        raise Problem(409, "not_tekun", "Care contracts are for dispersed tekun persons (分散供养特困人员)")
    if ends_on is not None and ends_on < starts_on:
        raise Problem(422, "ends_before_start", "ends_on is before starts_on")
    if await uow.session.scalar(select(Placement.id).where(Placement.person_id == person.id, Placement.status == "active")):
        raise Problem(409, "centralized", "The person is in centralized support")
    if await uow.session.scalar(
        select(CareContract.id).where(CareContract.person_id == person.id, CareContract.status == "active")
    ) is not None:
        raise Problem(409, "contract_exists", "The person already has an active care contract")
    params = await parameters_on(uow, starts_on, [PERIOD_MONTHS])
    contract = CareContract(
        person_id=person.id, town=person.town, institution=institution, institution_code=institution_code,
        starts_on=starts_on, ends_on=ends_on, period_months=params.get_int(PERIOD_MONTHS),
        parameter_version_id=params.version_id(PERIOD_MONTHS), status="active", created_by=principal.subject,
        created_at=uow.now(),
    )
    uow.session.add(contract)
    await uow.session.flush()
    return contract


async def visible_contract(uow: UnitOfWork, principal: Principal, contract_id: uuid.UUID, *, for_update: bool = False) -> CareContract:
    """The contract if ``principal`` may see it (its town's staff; a village officer, its
    village's persons'), else 404 (R-DB-7)."""
    contract = await uow.session.get(CareContract, contract_id, with_for_update=for_update)
    if contract is None:
        raise not_found("care contract")
    await ensure_record_visible(uow, principal, contract.town, contract.person_id, "care contract")
    return contract


async def end_contract(*, uow: UnitOfWork, principal: Principal, contract_id: uuid.UUID, ends_on: date) -> CareContract:
    """End a contract on ``ends_on`` (its last day). 409 ``contract_ended``; 422 ``ends_before_start``."""
    contract = await visible_contract(uow, principal, contract_id, for_update=True)
    if contract.status != "active":
        raise Problem(409, "contract_ended", "The contract has ended")
    if ends_on < contract.starts_on:
        raise Problem(422, "ends_before_start", "ends_on is before starts_on")
    contract.ends_on, contract.status = ends_on, "ended"
    return contract


async def end_contracts_of(uow: UnitOfWork, person_id: uuid.UUID, on: date) -> None:
    rows = await uow.session.scalars(
        select(CareContract).where(CareContract.person_id == person_id, CareContract.status == "active").with_for_update()
    )
    for contract in rows.all():
        contract.status = "ended"
        contract.ends_on = max(contract.starts_on, min(on, contract.ends_on or on))


async def record_supervision(
    *, uow: UnitOfWork, principal: Principal, contract_id: uuid.UUID, kind: str, done_on: date, inspector: str,
    satisfactory: bool, findings: str | None,
) -> Supervision:
    """Record one of the three supervisions (R-TK-5) for the period holding ``done_on``. 409
    ``already_recorded`` (that kind in that period); 422 ``future_date``, ``outside_contract``."""
    contract = await visible_contract(uow, principal, contract_id)
    ensure_not_future(done_on, today(uow), "done_on")
    if done_on < contract.starts_on or (contract.ends_on is not None and done_on > contract.ends_on):
        raise Problem(422, "outside_contract", "done_on is outside the contract's term")
    period_start, _ = rules.period_of(done_on, contract.period_months)
    if await uow.session.scalar(
        select(Supervision.id).where(
            Supervision.contract_id == contract.id, Supervision.period_start == period_start, Supervision.kind == kind
        )
    ) is not None:
        raise Problem(409, "already_recorded", "This supervision is already recorded for the period")
    supervision = Supervision(
        contract_id=contract.id, period_start=period_start, kind=kind, done_on=done_on, inspector=inspector,
        satisfactory=satisfactory, findings=findings, recorded_by=principal.subject, recorded_at=uow.now(),
    )
    uow.session.add(supervision)
    await uow.session.flush()
    return supervision


async def contract_status(uow: UnitOfWork, contract: CareContract) -> dict[str, Any]:
    """Each period of the contract up to today with each supervision kind's state."""
    on = today(uow)
    supervisions = list(
        (await uow.session.scalars(
            select(Supervision).where(Supervision.contract_id == contract.id).order_by(Supervision.period_start, Supervision.kind)
        )).all()
    )
    done: dict[date, list[str]] = {}
    for s in supervisions:
        done.setdefault(s.period_start, []).append(s.kind)
    last = min(contract.ends_on, on) if contract.ends_on else on
    periods = [
        {"period_start": start, "period_end": end, "kinds": rules.period_status(end, done.get(start, []), on)}
        for start, end in rules.periods(contract.starts_on, last, contract.period_months)
    ]
    return {"periods": periods, "supervisions": supervisions}


async def sweep_overdue_supervisions(uow: UnitOfWork, *, batch: int) -> int:
    """For each contract, the supervisions missing from its periods ended since it was registered
    are reported once:
    a marker row per (contract, period, kind) is inserted ON CONFLICT DO NOTHING RETURNING, so of
    concurrent sweepers exactly one gets each row, and ``care.supervision.overdue`` is staged for
    it (R-TK-5). Returns the number fired (the caller commits)."""
    on = today(uow)
    contracts = list(
        (await uow.session.execute(
            select(CareContract, Person)
            .join(Person, Person.id == CareContract.person_id)
            .where(
                CareContract.starts_on < on,
                # ended contracts only while their last periods can still close
                or_(CareContract.status == "active", CareContract.ends_on >= on - timedelta(days=400)),
            )
        )).all()
    )
    if not contracts:
        return 0
    done: dict[tuple[uuid.UUID, date], list[str]] = {}
    for contract_id, period_start, kind in (
        await uow.session.execute(
            select(Supervision.contract_id, Supervision.period_start, Supervision.kind).where(
                Supervision.contract_id.in_([c.id for c, _ in contracts])
            )
        )
    ).all():
        done.setdefault((contract_id, period_start), []).append(kind)
    fired_before = {
        (r.contract_id, r.period_start, r.kind)
        for r in (await uow.session.execute(
            select(SupervisionOverdue.contract_id, SupervisionOverdue.period_start, SupervisionOverdue.kind).where(
                SupervisionOverdue.contract_id.in_([c.id for c, _ in contracts])
            )
        )).all()
    }
    wanted: list[dict[str, Any]] = []
    meta: dict[tuple[uuid.UUID, date, str], tuple[CareContract, Person, date]] = {}
    for contract, person in contracts:
        # A period that had already ended when the contract was registered is history (its
        # status shows it), not a lapse to report now.
        registered_on = contract.created_at.astimezone(SHANGHAI).date()
        for start, end in rules.closed_periods(contract.starts_on, contract.ends_on, on, contract.period_months):
            if end < registered_on:
                continue
            for kind in rules.missing(done.get((contract.id, start), [])):
                key = (contract.id, start, kind)
                if key in fired_before:
                    continue
                wanted.append({"contract_id": contract.id, "period_start": start, "kind": kind, "fired_at": uow.now()})
                meta[key] = (contract, person, end)
                if len(wanted) >= batch:
                    break
    if not wanted:
        return 0
    inserted = (
        await uow.session.execute(
            insert(SupervisionOverdue).values(wanted).on_conflict_do_nothing()
            .returning(SupervisionOverdue.contract_id, SupervisionOverdue.period_start, SupervisionOverdue.kind)
        )
    ).all()
    items = []
    for r in inserted:
        contract, person, end = meta[(r.contract_id, r.period_start, r.kind)]
        items.append((
            str(contract.id),
            events.SupervisionOverdue(
                **person_ref(person), contract_id=str(contract.id), period_start=r.period_start, period_end=end, kind=r.kind,
            ),
        ))
    await emit_many(uow, events.SUPERVISION_OVERDUE, items)
    if items:
        log.info("care.supervision.overdue", count=len(items))
    return len(items)
