"""``/api/v1/care/persons``: persons under care (registry projection and care-registered)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from services.care.common import AUDIT_ROLES, ID_NUMBER_ROLES, READ_ROLES, WRITE_ROLES, Out, cursor_key, parse_uuid, scope_clauses
from services.care.persons.models import AuditEntry, Person
from services.care.persons.schemas import PersonIn, PersonOut, PersonPatch, PersonSummary, Willingness
from services.care.persons.service import audit, record_willingness, register_person, update_person, visible_person
from shared.app import get_uow
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.ids import mask_id_number
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/care/persons", tags=["persons"])


def summary(person: Person) -> PersonSummary:
    return PersonSummary(
        id=person.id, eligibility_person_id=person.eligibility_person_id, source=person.source, name=person.name,
        id_number_masked=mask_id_number(person.id_number) if person.id_number else None, town=person.town,
        village=person.village, tekun=person.tekun, self_care_level=person.self_care_level,
        deceased_on=person.deceased_on,
    )


@router.post("", response_model=PersonOut, status_code=201)
async def create_person(
    body: PersonIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*WRITE_ROLES))
) -> PersonOut:
    """Register a person who is not in the assistance registry (e.g. a left-behind child).
    422 ID-number codes (``checksum`` …), ``unknown_town``, ``village_not_in_town``; 409
    ``person_exists`` (with ``person_id``); 404 another town (town staff)."""
    async with uow:
        person = await register_person(uow=uow, principal=principal, data=body)
        out = PersonOut.model_validate(person)
        await uow.commit()
    return out


@router.get("", response_model=Page[PersonSummary])
async def list_persons(
    town: str | None = Query(None),
    tekun: bool | None = Query(None, description="only tekun persons (true) or others (false)"),
    level: Literal["self_care", "partial_loss", "full_loss", "unassessed"] | None = Query(None),
    eligibility_person_id: str | None = Query(None, max_length=64),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[PersonSummary]:
    """Persons under care (ID numbers masked; the read is audited), by id; town staff see their
    town, a village officer its village."""
    async with uow:
        query = select(Person).order_by(Person.id).limit(page.limit + 1)
        query = query.where(*scope_clauses(principal, town, Person.town, Person.village))
        if tekun is not None:
            query = query.where(Person.tekun.is_(tekun))
        if level == "unassessed":
            query = query.where(Person.self_care_level.is_(None))
        elif level is not None:
            query = query.where(Person.self_care_level == level)
        if eligibility_person_id is not None:
            query = query.where(Person.eligibility_person_id == eligibility_person_id)
        key = cursor_key(page.after, uuid.UUID)
        if key is not None:
            query = query.where(Person.id > key[0])
        rows = [summary(p) for p in (await uow.session.scalars(query)).all()]
        audit(uow, principal, "persons.list", count=min(len(rows), page.limit))
        await uow.commit()
    return make_page(rows, page.limit, key=lambda p: [str(p.id)])


@router.get("/{person_id}", response_model=PersonOut)
async def get_person(
    person_id: str, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READ_ROLES))
) -> PersonOut:
    """One person's record (audited read); the ID number in full for district staff, town
    approvers and caseworkers, masked for other roles. 404 unknown, another town's, or (village
    officer) another village's."""
    async with uow:
        person = await visible_person(uow, principal, parse_uuid(person_id, "person"))
        out = PersonOut.model_validate(person)
        if out.id_number and not principal.has_role(*ID_NUMBER_ROLES):
            out.id_number = mask_id_number(out.id_number)
        audit(uow, principal, "person.read", person.id)
        await uow.commit()
    return out


@router.patch("/{person_id}", response_model=PersonOut)
async def patch_person(
    person_id: str,
    body: PersonPatch,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> PersonOut:
    """Change a care-registered person. 409 ``registry_person`` for a registry person."""
    async with uow:
        person = await update_person(uow=uow, principal=principal, person_id=parse_uuid(person_id, "person"), patch=body)
        await uow.session.flush()
        out = PersonOut.model_validate(person)
        await uow.commit()
    return out


@router.put("/{person_id}/willingness", response_model=PersonOut)
async def put_willingness(
    person_id: str,
    body: Willingness,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> PersonOut:
    """Record a tekun person's willingness to enter centralized support (集中供养意愿, R-TK-3);
    unwilling removes them from the waiting list. 409 ``not_tekun``, ``person_deceased``."""
    async with uow:
        person = await record_willingness(
            uow=uow, principal=principal, person_id=parse_uuid(person_id, "person"),
            willing=body.willing, recorded_on=body.recorded_on,
        )
        await uow.session.flush()
        out = PersonOut.model_validate(person)
        await uow.commit()
    return out


audit_router = APIRouter(prefix="/api/v1/care/audit", tags=["audit"])


class AuditOut(Out):
    id: int
    at: datetime
    actor: str
    roles: list[str]
    action: str
    person_id: uuid.UUID | None
    detail: dict


@audit_router.get("", response_model=Page[AuditOut])
async def list_audit(
    person_id: uuid.UUID | None = Query(None),
    actor: str | None = Query(None, max_length=200),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*AUDIT_ROLES)),
) -> Page[AuditOut]:
    """Who read which person's data and when (district_admin, auditor), newest first."""
    async with uow:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(page.limit + 1)
        if person_id is not None:
            query = query.where(AuditEntry.person_id == person_id)
        if actor is not None:
            query = query.where(AuditEntry.actor == actor)
        key = cursor_key(page.after, int)
        if key is not None:
            query = query.where(AuditEntry.id < key[0])
        rows = [AuditOut.model_validate(a) for a in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda a: [a.id])
