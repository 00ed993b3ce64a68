"""``/api/v1/eligibility/parameters``: the versioned policy numbers (POLICY.md defaults seeded)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, status

from services.eligibility.parameters import service
from services.eligibility.parameters.schemas import (
    ParameterCreatedOut,
    ParameterOut,
    ParameterVersionIn,
    ParameterWithdrawnOut,
    RecalculationOut,
    to_out,
)
from shared.app import get_uow
from shared.auth import DISTRICT_ADMIN, Principal, authenticated, require_roles
from shared.db import UnitOfWork

router = APIRouter(prefix="/api/v1/eligibility/parameters", tags=["parameters"])


@router.get("", response_model=list[ParameterOut])
async def list_parameters(
    name: str | None = Query(None, max_length=64),
    on: date | None = Query(None, description="only the versions in force on this date"),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(authenticated),
) -> list[ParameterOut]:
    """Every version of every parameter (or of ``name``; or those in force ``on``), by name and
    start date. Any authenticated caller may read them. Units: ``yuan`` per month, ``ratio``,
    ``months``, ``days``, ``working_days``, ``years``."""
    async with uow:
        rows = await service.list_versions(uow.session, name=name, on=on)
        return [to_out(r) for r in rows]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ParameterCreatedOut)
async def add_parameter_version(
    body: ParameterVersionIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> ParameterCreatedOut:
    """Add a version of a parameter from ``valid_from`` (district administrator only).

    The current version then ends the day before. A new ``dibao_standard`` (e.g. 720.00 from
    2020-01-01 over 600.00, R-DB-1) or ``tekun_basic_factor`` recalculates every live benefit as of
    that date and emits ``eligibility.benefit.changed`` (or ``.ended``). Errors: 422
    ``unknown_parameter`` / ``invalid_parameter_value``; 409 ``parameter_version_conflict``.
    """
    async with uow:
        row, summary = await service.add_version(
            uow=uow, principal=principal, name=body.name, raw_value=body.value, valid_from=body.valid_from, note=body.note
        )
        out = ParameterCreatedOut(
            version=to_out(row),
            recalculation=RecalculationOut.model_validate(summary, from_attributes=True) if summary else None,
        )
        await uow.commit()
        return out


@router.delete("/{version_id}", response_model=ParameterWithdrawnOut)
async def withdraw_parameter_version(
    version_id: int,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> ParameterWithdrawnOut:
    """Withdraw a scheduled version not yet in force (the latest of its parameter); the previous
    one is open-ended again and live benefits are recalculated back. Errors: 404; 409
    ``parameter_in_force``, ``parameter_not_latest``."""
    async with uow:
        row, previous, summary = await service.withdraw_version(uow=uow, principal=principal, version_id=version_id)
        out = ParameterWithdrawnOut(
            withdrawn=to_out(row),
            reopened=to_out(previous) if previous is not None else None,
            recalculation=RecalculationOut.model_validate(summary, from_attributes=True) if summary else None,
        )
        await uow.commit()
        return out
