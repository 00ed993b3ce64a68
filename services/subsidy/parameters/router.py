"""``/api/v1/subsidy/parameters``: the policy numbers in force, and new versions of them."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, Request

from services.subsidy.parameters import service
from services.subsidy.parameters.catalogue import BY_KEY, SPECS
from services.subsidy.parameters.schemas import NewVersion, ParameterOut, ParameterVersionOut
from shared.app import get_uow
from shared.auth import DISTRICT_ADMIN, Principal, authenticated, require_roles
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import not_found
from shared.pagination import Page

router = APIRouter(prefix="/api/v1/subsidy/parameters", tags=["parameters"])


def _describe(key: str, versions: list, on: date) -> ParameterOut:
    spec = BY_KEY[key]
    outs = [ParameterVersionOut.model_validate(v) for v in versions]
    current = next((v for v in outs if v.valid_from <= on and (v.valid_to is None or v.valid_to >= on)), None)
    return ParameterOut(
        key=key, kind=spec.kind, rule=spec.rule, unit=spec.unit, description=spec.description,
        options=list(spec.options), in_force=current, versions=outs,
    )


@router.get("", response_model=Page[ParameterOut])
async def list_parameters(
    request: Request,
    on: date | None = Query(None, description="date for in_force (default: today, Asia/Shanghai)"),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(authenticated),
) -> Page[ParameterOut]:
    """Every parameter of the subsidy service with all its versions (one page: the list is short)."""
    day = on or local_today(request.app.state.clock)
    async with uow:
        versions = await service.list_versions(uow.session)
        by_key: dict[str, list] = {}
        for v in versions:
            by_key.setdefault(v.key, []).append(v)
        return Page(items=[_describe(spec.key, by_key.get(spec.key, []), day) for spec in SPECS], next_cursor=None)


@router.get("/{key}", response_model=ParameterOut)
async def get_parameter(
    key: str,
    request: Request,
    on: date | None = Query(None),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(authenticated),
) -> ParameterOut:
    """One parameter and its versions; 404 ``not_found`` for an unknown key."""
    if key not in BY_KEY:
        raise not_found(f"parameter {key}")
    async with uow:
        versions = await service.list_versions(uow.session, key)
        return _describe(key, versions, on or local_today(request.app.state.clock))


@router.post("/{key}/versions", response_model=ParameterOut, status_code=201)
async def add_parameter_version(
    key: str,
    body: NewVersion,
    request: Request,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> ParameterOut:
    """Add a version of ``key`` (district administrator). Errors: see ``service.add_version``."""
    async with uow:
        await service.add_version(
            uow=uow, principal=principal, key=key, valid_from=body.valid_from, valid_to=body.valid_to,
            value=body.value, note=body.note,
        )
        await uow.commit()
    async with request.app.state.uow_factory() as read:
        versions = await service.list_versions(read.session, key)
        return _describe(key, versions, local_today(request.app.state.clock))
