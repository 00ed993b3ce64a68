"""``/api/v1/care/parameters``: the care service's versioned policy parameters."""

from __future__ import annotations

from datetime import date

import structlog
from fastapi import APIRouter, Depends, Query

from services.care.common import today
from services.care.parameters.catalogue import PARAMETERS
from services.care.parameters.models import ParameterVersion
from services.care.parameters.schemas import NewVersion, ParameterOut
from services.care.parameters.service import add_version, history, parameters_on
from shared.app import get_uow
from shared.auth import DISTRICT_ADMIN, Principal, authenticated, require_roles
from shared.db import UnitOfWork

log = structlog.get_logger("care.parameters")
router = APIRouter(prefix="/api/v1/care/parameters", tags=["parameters"])


def _out(v: ParameterVersion) -> ParameterOut:
    d = PARAMETERS[v.key]
    return ParameterOut(
        key=v.key, value=v.value, unit=d.unit, rule=d.rule, description=d.description,
        valid_from=v.valid_from, valid_to=v.valid_to, version_id=v.id, local_default=d.local_default,
    )


@router.get("", response_model=list[ParameterOut])
async def list_parameters(
    on: date | None = Query(None, description="the date (default today, Asia/Shanghai)"),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(authenticated),
) -> list[ParameterOut]:
    """Every care parameter's version in force on ``on``: visit intervals (days, R-LB-2), the alert
    acknowledgement time (minutes, R-LB-3), the reassessment deadline (working days, R-TK-1), the
    centralized-rate target (R-TK-3), the supervision period (months, R-TK-5) and the left-behind
    criteria (R-LB-1). Any authenticated caller."""
    async with uow:
        snapshot = await parameters_on(uow, on or today(uow))
        return [_out(v) for _, v in sorted(snapshot.versions.items()) if v.key in PARAMETERS]


@router.get("/{key}", response_model=list[ParameterOut])
async def parameter_history(
    key: str, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)
) -> list[ParameterOut]:
    """Every version of one parameter, oldest first. 404 for an unknown key."""
    async with uow:
        return [_out(v) for v in await history(uow, key)]


@router.post("/{key}/versions", response_model=ParameterOut, status_code=201)
async def new_version(
    key: str,
    body: NewVersion,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> ParameterOut:
    """Add a version of ``key`` in force from ``valid_from`` (district_admin only); the version in
    force then ends the day before. 422 ``invalid_value``; 409 ``version_conflict`` when a version
    already starts on or after that date; 404 unknown key."""
    async with uow:
        version = await add_version(
            uow=uow, principal=principal, key=key, value=body.value, valid_from=body.valid_from, note=body.note
        )
        await uow.commit()
    log.info("care.parameter.versioned", key=key, version_id=version.id)
    return _out(version)
