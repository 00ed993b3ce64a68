"""Use cases on persons: registration, the registry projection, willingness, audit of reads."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import structlog
from sqlalchemy import ColumnElement, ScalarSelect, select

from services.care.common import check_village_in_town, ensure_not_future, ensure_visible, today, village_scoped
from services.care.persons.models import AuditEntry, Person
from services.care.persons.schemas import PersonIn, PersonPatch
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.ids import IdNumberError, parse_id_number
from shared.regions import is_town, is_village

log = structlog.get_logger("care.persons")


def person_ref(person: Person) -> dict[str, Any]:
    """The identifying fields every care event carries (no personal data)."""
    return {
        "care_person_id": str(person.id),
        "person_id": person.eligibility_person_id,
        "household_id": person.household_id,
        "town": person.town,
    }


def audit(uow: UnitOfWork, principal: Principal, action: str, person_id: uuid.UUID | None = None, **detail: Any) -> None:
    """Record a read of personal data by ``principal`` (committed with the request's unit of work)."""
    uow.session.add(
        AuditEntry(
            at=uow.now(), actor=principal.subject, roles=sorted(principal.roles), action=action,
            person_id=person_id, detail=detail,
        )
    )


async def load_person(uow: UnitOfWork, person_id: uuid.UUID, *, for_update: bool = False) -> Person:
    """The person, or 404."""
    query = select(Person).where(Person.id == person_id)
    if for_update:
        query = query.with_for_update()
    person = await uow.session.scalar(query)
    if person is None:
        raise not_found("person")
    return person


async def visible_person(
    uow: UnitOfWork, principal: Principal, person_id: uuid.UUID, *, for_update: bool = False
) -> Person:
    """The person if ``principal`` may see it (own town for town staff, own village for a village
    officer), else 404 (R-DB-7)."""
    person = await load_person(uow, person_id, for_update=for_update)
    ensure_visible(principal, person.town, person.village, "person")
    return person


def village_of(person_id: ColumnElement[uuid.UUID]) -> ScalarSelect[str | None]:
    """The village of the person ``person_id`` refers to, as a scalar subquery: the village
    column of a list whose table carries none (for :func:`~services.care.common.scope_clauses`,
    which evaluates it for a village officer only)."""
    return select(Person.village).where(Person.id == person_id).scalar_subquery()


async def ensure_record_visible(
    uow: UnitOfWork, principal: Principal, town: str, person_id: uuid.UUID, what: str = "record"
) -> None:
    """404 (not 403) unless ``principal`` may see a record of ``town`` about the person
    ``person_id`` (R-DB-7): the record's town, and for a village officer the person's village
    (the record carries none; it is looked up for a village officer only)."""
    village = None
    if village_scoped(principal):
        village = await uow.session.scalar(select(Person.village).where(Person.id == person_id))
    ensure_visible(principal, town, village, what)


def ensure_alive(person: Person) -> None:
    """409 ``person_deceased`` for a person reported dead."""
    if person.deceased_on is not None:
        raise Problem(409, "person_deceased", "The person is recorded as deceased")


def _parse_id(raw: str, on: date) -> Any:
    try:
        return parse_id_number(raw, today=on)
    except IdNumberError as exc:
        raise Problem(
            422, exc.code, exc.message, errors=[{"field": "id_number", "code": exc.code, "message": exc.message}]
        ) from None


async def register_person(*, uow: UnitOfWork, principal: Principal, data: PersonIn) -> Person:
    """Register a person who is not in the assistance registry (``source = "care"``).

    Errors: 422 ``format``/``length``/``birth_date``/``checksum`` (ID number),
    ``village_not_in_town``; 404 for another town (town staff); 409 ``person_exists`` (with
    ``person_id``) when the ID number is already known here.
    """
    principal.ensure_town(data.town, "town")
    check_village_in_town(data.town, data.village)
    resident = _parse_id(data.id_number, today(uow))
    existing = await uow.session.scalar(select(Person).where(Person.id_number == resident.number))
    if existing is not None:
        raise Problem(409, "person_exists", "A person with this ID number is already registered", person_id=str(existing.id))
    person = Person(
        source="care", name=data.name, id_number=resident.number, sex=resident.sex, birth_date=resident.birth_date,
        town=data.town, village=data.village, disability_grade=data.disability_grade,
        disability_kind=data.disability_kind, long_term_care=False, tekun=False,
    )
    uow.session.add(person)
    await uow.session.flush()
    log.info("care.person.registered", care_person_id=str(person.id), town=person.town)
    return person


async def update_person(*, uow: UnitOfWork, principal: Principal, person_id: uuid.UUID, patch: PersonPatch) -> Person:
    """Change a care-registered person. 409 ``registry_person`` for a person from the registry
    (changed through eligibility's events); 422 ``village_not_in_town``."""
    person = await visible_person(uow, principal, person_id, for_update=True)
    if person.source != "care":
        raise Problem(409, "registry_person", "This person comes from the assistance registry; change it there")
    changes = patch.model_dump(exclude_unset=True)
    if "village" in changes:
        check_village_in_town(person.town, changes["village"])
    for key, value in changes.items():
        setattr(person, key, value)
    return person


async def record_willingness(
    *, uow: UnitOfWork, principal: Principal, person_id: uuid.UUID, willing: bool, recorded_on: date | None
) -> Person:
    """Record whether a tekun person wants centralized support (R-TK-3). A person no longer willing
    leaves the waiting list. 409 ``not_tekun``, ``person_deceased``; 422 ``future_date``."""
    from services.care.placement.service import withdraw_waiting  # the waiting list depends on it

    person = await visible_person(uow, principal, person_id, for_update=True)
    ensure_alive(person)
    if not person.tekun:
        raise Problem(409, "not_tekun", "Only tekun persons are asked about centralized support")
    on = recorded_on or today(uow)
    ensure_not_future(on, today(uow), "recorded_on")
    person.willing_centralized = willing
    person.willingness_recorded_on = on
    if not willing:
        await withdraw_waiting(uow, person.id, on, "not_willing")
    return person


# --- the registry projection (eligibility events) ---------------------------------------------


def _month_start(month: str | None) -> date | None:
    if not month:
        return None
    year, mon = month.split("-")[:2]
    return date(int(year), int(mon), 1)


async def _registry_person(uow: UnitOfWork, eligibility_id: str, id_number: str | None) -> Person | None:
    person = await uow.session.scalar(
        select(Person).where(Person.eligibility_person_id == eligibility_id).with_for_update()
    )
    if person is None and id_number:
        # A person registered here first (a left-behind child) now in the registry: link, do not duplicate.
        person = await uow.session.scalar(select(Person).where(Person.id_number == id_number).with_for_update())
        if person is not None:
            person.eligibility_person_id = eligibility_id
            person.source = "eligibility"
    return person


async def registry_person_stub(
    uow: UnitOfWork, eligibility_id: str, *, household_id: str | None, town: str | None, village: str | None
) -> Person:
    """The person with this registry id; a stub (details follow with the household event) when an
    event about it arrives first."""
    person = await _registry_person(uow, eligibility_id, None)
    if person is None:
        person = Person(
            eligibility_person_id=eligibility_id, source="eligibility", household_id=household_id,
            town=town if town and is_town(town) else "", village=village if village and is_village(village) else None,
            tekun=False, long_term_care=False,
        )
        uow.session.add(person)
        await uow.session.flush()
    return person


async def mark_tekun(uow: UnitOfWork, data: dict[str, Any]) -> list[Person]:
    """``eligibility.benefit.granted`` with category tekun: each covered person is tekun from the
    effective month."""
    ids = [str(i) for i in (data.get("members") or [])] or [str(data["person_id"])]
    persons = []
    for eligibility_id in ids:
        person = await registry_person_stub(
            uow, eligibility_id, household_id=data.get("household_id"), town=data.get("town"), village=data.get("village")
        )
        if not person.town and data.get("town"):
            person.town = data["town"]
        person.tekun = True
        person.tekun_benefit_id = str(data["benefit_id"])
        person.tekun_since = _month_start(data.get("effective_month"))
        person.tekun_until = None
        persons.append(person)
    return persons


async def end_tekun(uow: UnitOfWork, data: dict[str, Any]) -> list[Person]:
    """``eligibility.benefit.ended`` with category tekun: support ends after ``last_month``."""
    persons = list(
        (await uow.session.scalars(
            select(Person).where(Person.tekun_benefit_id == str(data["benefit_id"])).with_for_update()
        )).all()
    )
    if not persons and data.get("person_id"):
        person = await _registry_person(uow, str(data["person_id"]), None)
        persons = [person] if person is not None else []
    for person in persons:
        person.tekun = False
        person.tekun_until = _month_start(data.get("last_month"))
    return persons
