"""Pilot endpoints (R-LB-4): programmes, enrolment, service records."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from services.care.common import DISTRICT_ROLES, READ_ROLES, WRITE_ROLES, cursor_key, paginate, parse_uuid, scope_clauses
from services.care.persons.service import audit, village_of
from services.care.pilots.models import Enrolment, Programme, ServiceRecord
from services.care.pilots.schemas import (
    EnrolIn,
    EnrolmentOut,
    LeaveEnrolmentIn,
    ProgrammeIn,
    ProgrammeOut,
    ServiceIn,
    ServiceOut,
)
from services.care.pilots.service import (
    create_programme,
    enrol,
    enrolled_counts,
    get_programme,
    leave,
    record_service,
    visible_enrolment,
)
from shared.app import get_uow
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/care", tags=["pilots"])


@router.post("/programmes", response_model=ProgrammeOut, status_code=201)
async def post_programme(
    body: ProgrammeIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(require_roles(*DISTRICT_ROLES))
) -> ProgrammeOut:
    """A care pilot programme (R-LB-4; district staff). 409 ``programme_exists``."""
    async with uow:
        programme = await create_programme(uow=uow, data=body)
        out = ProgrammeOut.model_validate(programme)
        await uow.commit()
    return out


@router.get("/programmes", response_model=Page[ProgrammeOut])
async def get_programmes(
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[ProgrammeOut]:
    """The pilot programmes with their active enrolment counts."""
    async with uow:
        counts = await enrolled_counts(uow)
        rows = (await uow.session.scalars(select(Programme).order_by(Programme.starts_on, Programme.code))).all()
        out = []
        for p in rows:
            item = ProgrammeOut.model_validate(p)
            item.enrolled = counts.get(p.id, 0)
            out.append(item)
    return paginate(out, page, key=lambda p: [p.starts_on.isoformat(), p.code])


@router.post("/programmes/{programme_id}/enrolments", response_model=EnrolmentOut, status_code=201)
async def post_enrolment(
    programme_id: str,
    body: EnrolIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> EnrolmentOut:
    """Enrol a person (R-LB-4). 422 ``not_eligible`` with ``failures``; 409 ``already_enrolled``."""
    async with uow:
        enrolment = await enrol(
            uow=uow, principal=principal, programme_id=parse_uuid(programme_id, "programme"), person_id=body.person_id,
            enrolled_on=body.enrolled_on,
        )
        out = EnrolmentOut.model_validate(enrolment)
        await uow.commit()
    return out


@router.get("/programmes/{programme_id}/enrolments", response_model=Page[EnrolmentOut])
async def get_enrolments(
    programme_id: str,
    town: str | None = Query(None),
    status: Literal["active", "left"] | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[EnrolmentOut]:
    """A programme's enrolments by id (a town sees its own, a village officer its village's
    persons'; the enrolment carries no village: the person's). 404 unknown programme, another
    town (town staff); 422 ``invalid_cursor``."""
    async with uow:
        programme = await get_programme(uow, parse_uuid(programme_id, "programme"))
        query = select(Enrolment).where(Enrolment.programme_id == programme.id).order_by(Enrolment.id).limit(page.limit + 1)
        query = query.where(*scope_clauses(principal, town, Enrolment.town, village_of(Enrolment.person_id)))
        if status is not None:
            query = query.where(Enrolment.status == status)
        key = cursor_key(page.after, uuid.UUID)
        if key is not None:
            query = query.where(Enrolment.id > key[0])
        rows = [EnrolmentOut.model_validate(e) for e in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda e: [str(e.id)])


@router.post("/enrolments/{enrolment_id}:leave", response_model=EnrolmentOut)
async def post_leave(
    enrolment_id: str,
    body: LeaveEnrolmentIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> EnrolmentOut:
    async with uow:
        enrolment = await leave(
            uow=uow, principal=principal, enrolment_id=parse_uuid(enrolment_id, "enrolment"), left_on=body.left_on,
            reason=body.reason,
        )
        out = EnrolmentOut.model_validate(enrolment)
        await uow.commit()
    return out


@router.post("/enrolments/{enrolment_id}/services", response_model=ServiceOut, status_code=201)
async def post_service(
    enrolment_id: str,
    body: ServiceIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> ServiceOut:
    """A service record (精神慰藉、社区康复、困难帮扶、社会融入、社会支持 …). 422 ``future_date``,
    ``outside_enrolment``."""
    async with uow:
        record = await record_service(
            uow=uow, principal=principal, enrolment_id=parse_uuid(enrolment_id, "enrolment"), served_on=body.served_on,
            service_type=body.service_type, minutes=body.minutes, provider=body.provider, note=body.note,
        )
        out = ServiceOut.model_validate(record)
        await uow.commit()
    return out


@router.get("/enrolments/{enrolment_id}/services", response_model=list[ServiceOut])
async def get_services(
    enrolment_id: str, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READ_ROLES))
) -> list[ServiceOut]:
    """An enrolment's service records, newest first (audited read). 404 unknown, another town's,
    or (village officer) another village's person's enrolment."""
    async with uow:
        enrolment = await visible_enrolment(uow, principal, parse_uuid(enrolment_id, "enrolment"))
        rows = await uow.session.scalars(
            select(ServiceRecord).where(ServiceRecord.enrolment_id == enrolment.id).order_by(ServiceRecord.served_on.desc())
        )
        out = [ServiceOut.model_validate(r) for r in rows.all()]
        audit(uow, principal, "services.read", enrolment.person_id)
        await uow.commit()
    return out
