"""Dispersed-support endpoints (R-TK-5): care contracts and their three supervisions per period."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from services.care.common import READ_ROLES, WRITE_ROLES, cursor_key, parse_uuid, scope_clauses
from services.care.dispersed.models import CareContract
from services.care.dispersed.schemas import (
    ContractIn,
    ContractOut,
    ContractStatusOut,
    EndContractIn,
    PeriodOut,
    SupervisionIn,
    SupervisionOut,
)
from services.care.dispersed.service import contract_status, create_contract, end_contract, record_supervision, visible_contract
from services.care.persons.service import village_of
from shared.app import get_uow
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/care/care-contracts", tags=["dispersed support"])


@router.post("", response_model=ContractOut, status_code=201)
async def post_contract(
    body: ContractIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*WRITE_ROLES))
) -> ContractOut:
    """A care contract with a care institution for a dispersed tekun person (分散供养, R-TK-5); three
    supervisions are due each ``supervision_period_months`` period. 409 ``not_tekun``,
    ``centralized``, ``contract_exists``, ``person_deceased``; 422 ``ends_before_start``."""
    async with uow:
        contract = await create_contract(
            uow=uow, principal=principal, person_id=body.person_id, institution=body.institution,
            institution_code=body.institution_code, starts_on=body.starts_on, ends_on=body.ends_on,
        )
        out = ContractOut.model_validate(contract)
        await uow.commit()
    return out


@router.get("", response_model=Page[ContractOut])
async def get_contracts(
    town: str | None = Query(None),
    status: Literal["active", "ended"] | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[ContractOut]:
    """Care contracts by id (a town sees its own, a village officer its village's persons'; the
    contract carries no village: the person's). 404 another town (town staff); 422
    ``invalid_cursor``."""
    async with uow:
        query = select(CareContract).order_by(CareContract.id).limit(page.limit + 1)
        query = query.where(*scope_clauses(principal, town, CareContract.town, village_of(CareContract.person_id)))
        if status is not None:
            query = query.where(CareContract.status == status)
        key = cursor_key(page.after, uuid.UUID)
        if key is not None:
            query = query.where(CareContract.id > key[0])
        rows = [ContractOut.model_validate(c) for c in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda c: [str(c.id)])


@router.get("/{contract_id}", response_model=ContractStatusOut)
async def get_contract(
    contract_id: str, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READ_ROLES))
) -> ContractStatusOut:
    """A contract with each period's supervisions: ``done``, ``overdue`` (missing after the
    period ended) or ``pending``. 404 unknown, another town's, or (village officer) another
    village's person's."""
    async with uow:
        contract = await visible_contract(uow, principal, parse_uuid(contract_id, "care contract"))
        status = await contract_status(uow, contract)
        return ContractStatusOut(
            contract=ContractOut.model_validate(contract),
            periods=[PeriodOut(**p) for p in status["periods"]],
            supervisions=[SupervisionOut.model_validate(s) for s in status["supervisions"]],
        )


@router.post("/{contract_id}:end", response_model=ContractOut)
async def post_end(
    contract_id: str,
    body: EndContractIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> ContractOut:
    async with uow:
        contract = await end_contract(uow=uow, principal=principal, contract_id=parse_uuid(contract_id, "care contract"), ends_on=body.ends_on)
        out = ContractOut.model_validate(contract)
        await uow.commit()
    return out


@router.post("/{contract_id}/supervisions", response_model=SupervisionOut, status_code=201)
async def post_supervision(
    contract_id: str,
    body: SupervisionIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> SupervisionOut:
    """Record a supervision (``duty_fulfilled``, ``service_quality``, ``regular_visit``) for the
    period holding ``done_on``. 409 ``already_recorded``; 422 ``future_date``, ``outside_contract``."""
    async with uow:
        supervision = await record_supervision(
            uow=uow, principal=principal, contract_id=parse_uuid(contract_id, "care contract"), kind=body.kind,
            done_on=body.done_on, inspector=body.inspector, satisfactory=body.satisfactory, findings=body.findings,
        )
        out = SupervisionOut.model_validate(supervision)
        await uow.commit()
    return out
