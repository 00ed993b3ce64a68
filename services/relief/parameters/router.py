"""``/api/v1/relief/parameters``: read the versioned policy numbers; district_admin adds versions."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, Request

from services.relief.parameters import service
from services.relief.parameters.schemas import ParameterIn, ParameterOut
from shared.app import get_uow
from shared.auth import DISTRICT_ADMIN, Principal, authenticated, require_roles
from shared.db import UnitOfWork
from shared.pagination import Page

router = APIRouter(prefix="/api/v1/relief/parameters", tags=["parameters"])


@router.get("", response_model=Page[ParameterOut])
async def list_parameters(
    request: Request,
    on: date | None = Query(None, description="only the versions in force on this date"),
    name: str | None = Query(None, max_length=64),
    _: Principal = Depends(authenticated),
) -> Page[ParameterOut]:
    """Versions of the relief policy parameters (R-TR-2..5), readable by any authenticated caller.

    Names: ``town_approval_limit`` and ``case_cap`` (yuan, R-TR-3), ``sla_working_days`` and
    ``at_risk_working_days`` (working days, R-TR-2), ``paperwork_working_days`` (working days,
    R-TR-5), ``reserve_usage_target`` (ratio, R-TR-4). The list is short and fits in one page.
    """
    async with request.app.state.sessionmaker() as session:
        rows = await service.list_parameters(session, on=on, name=name)
    return Page(items=[ParameterOut.model_validate(r) for r in rows], next_cursor=None)


@router.post("", response_model=ParameterOut, status_code=201)
async def add_parameter_version(
    body: ParameterIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> ParameterOut:
    """A new version of a parameter from ``valid_from`` (district_admin only); the previous version
    ends the day before. 422 ``unknown_parameter`` / ``invalid_parameter_value``, 409
    ``version_conflict`` when a version already starts on or after that date."""
    async with uow:
        row = await service.add_version(
            uow=uow, principal=principal, name=body.name, value=body.value, valid_from=body.valid_from
        )
        out = ParameterOut.model_validate(row)
        await uow.commit()
    return out
