"""``/api/v1/wishes/parameters``: the policy numbers of measure 14 as versioned parameters."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, status

from services.wishes.deps import unit_of_work
from services.wishes.parameters import service
from services.wishes.parameters.models import ParameterVersion
from services.wishes.parameters.schemas import ParameterVersionIn, ParameterVersionOut
from shared.auth import DISTRICT_ADMIN, Principal, authenticated, require_roles
from shared.db import UnitOfWork

router = APIRouter(prefix="/api/v1/wishes/parameters", tags=["parameters"])


def _out(version: ParameterVersion) -> ParameterVersionOut:
    return ParameterVersionOut(
        id=version.id, name=version.name, value=version.value, unit=service.PARAMETERS[version.name].unit,
        rule=version.rule, valid_from=version.valid_from, valid_to=version.valid_to,
        created_at=version.created_at, created_by=version.created_by,
    )


@router.get("", response_model=list[ParameterVersionOut])
async def list_parameters(
    name: str | None = Query(None, max_length=64),
    uow: UnitOfWork = Depends(unit_of_work),
    _: Principal = Depends(authenticated),
) -> list[ParameterVersionOut]:
    """Every version of the parameters (``village_quota`` R-MW-1, wishes per village and campaign;
    ``pledge_days`` R-MW-4, days), or of ``name`` only. Any authenticated caller.
    404 ``unknown_parameter``."""
    async with uow:
        return [_out(v) for v in await service.list_versions(uow.session, name)]


@router.post("", response_model=ParameterVersionOut, status_code=status.HTTP_201_CREATED)
async def add_parameter_version(
    body: ParameterVersionIn,
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> ParameterVersionOut:
    """A new version of a parameter from ``valid_from`` (district_admin only); the previous version
    ends the day before. 404 ``unknown_parameter``, 422 ``invalid_parameter_value``,
    409 ``parameter_overlap`` (not after the latest version's start)."""
    async with uow:
        version = await service.add_version(
            uow=uow, principal=principal, name=body.name, value=body.value, valid_from=body.valid_from
        )
        await uow.commit()
        await uow.session.refresh(version)
        return _out(version)
