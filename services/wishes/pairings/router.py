"""阳光1+1 (R-OA-2): ``/api/v1/wishes/old-area-villages``, ``/organizations``, ``/pairings``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, status

from services.wishes.deps import pages, unit_of_work
from services.wishes.pairings import service
from services.wishes.pairings.models import PAIRING_STATUSES
from services.wishes.pairings.schemas import (
    OldAreaVillageIn, OldAreaVillageOut, OrganizationIn, OrganizationOut, PairingIn, PairingOut, ProjectIn,
    ProjectOut,
)
from shared.auth import DISTRICT_ADMIN, STAFF_ROLES, TOWN_APPROVER, TOWN_CASEWORKER, Principal, authenticated, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.pagination import Page, PageParams, make_page

router = APIRouter(prefix="/api/v1/wishes", tags=["阳光1+1 pairings"])

MANAGERS = (DISTRICT_ADMIN, TOWN_APPROVER, TOWN_CASEWORKER)


@router.get("/old-area-villages", response_model=list[OldAreaVillageOut])
async def list_old_area_villages(
    town: str | None = Query(None, max_length=9),
    uow: UnitOfWork = Depends(unit_of_work),
    _: Principal = Depends(authenticated),
) -> list[OldAreaVillageOut]:
    """The villages designated as old revolutionary-area villages (老区村), by code."""
    async with uow:
        return [service.village_out(v) for v in await service.list_villages(uow.session, town)]


@router.put("/old-area-villages/{village}", response_model=OldAreaVillageOut)
async def designate_old_area_village(
    body: OldAreaVillageIn,
    village: str = Path(max_length=12),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> OldAreaVillageOut:
    """Designate a village as an old-area village (district_admin); idempotent. 422 ``unknown_village``."""
    async with uow:
        row = await service.designate_village(uow=uow, principal=principal, village=village, note=body.note)
        await uow.commit()
        return service.village_out(row)


@router.post("/organizations", response_model=OrganizationOut, status_code=status.HTTP_201_CREATED)
async def register_organization(
    body: OrganizationIn,
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> OrganizationOut:
    """Register a social organization (district_admin). 422 ``credit_code``, 409 ``duplicate_credit_code``."""
    async with uow:
        row = await service.register_organization(uow=uow, principal=principal, data=body)
        await uow.commit()
        return service.organization_out(row)


@router.get("/organizations", response_model=Page[OrganizationOut])
async def list_organizations(
    page: PageParams = Depends(pages),
    uow: UnitOfWork = Depends(unit_of_work),
    _: Principal = Depends(authenticated),
) -> Page[OrganizationOut]:
    """Registered organizations, by id."""
    async with uow:
        rows = [service.organization_out(o) for o in await service.list_organizations(uow.session, page)]
    return make_page(rows, page.limit, key=lambda o: [o.id])


@router.post("/organizations/{organization_id}:{action}", response_model=OrganizationOut)
async def set_organization_active(
    action: Literal["activate", "deactivate"],
    organization_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    _: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> OrganizationOut:
    """``:deactivate`` (no new pairings) or ``:activate`` an organization (district_admin)."""
    async with uow:
        row = await service.set_organization_active(uow=uow, organization_id=organization_id, active=action == "activate")
        await uow.commit()
        return service.organization_out(row)


@router.post("/pairings", response_model=PairingOut, status_code=status.HTTP_201_CREATED)
async def create_pairing(
    body: PairingIn,
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*MANAGERS)),
) -> PairingOut:
    """Pair an organization with an old-area village (R-OA-2): district_admin, or the village's
    town staff. 409 ``not_old_area_village``, ``organization_inactive``, ``already_paired``."""
    async with uow:
        row = await service.create_pairing(uow=uow, principal=principal, data=body)
        await uow.commit()
        return await service.pairing_out(uow.session, row)


@router.get("/pairings", response_model=Page[PairingOut])
async def list_pairings(
    town: str | None = Query(None, max_length=9),
    village: str | None = Query(None, max_length=12),
    organization_id: int | None = Query(None, ge=1),
    status_: str | None = Query(None, alias="status", description="active, suspended, ended"),
    page: PageParams = Depends(pages),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*STAFF_ROLES)),
) -> Page[PairingOut]:
    """Pairings with their projects (town staff: their town's), by id."""
    if status_ is not None and status_ not in PAIRING_STATUSES:
        raise Problem(422, "invalid_status_filter", f"status must be one of {', '.join(PAIRING_STATUSES)}")
    async with uow:
        rows = await service.list_pairings(uow=uow, principal=principal, page=page, town=town, village=village,
                                           organization_id=organization_id, status=status_)
        items = [await service.pairing_out(uow.session, r) for r in rows]
    return make_page(items, page.limit, key=lambda p: [p.id])


@router.get("/pairings/{pairing_id}", response_model=PairingOut)
async def get_pairing(
    pairing_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*STAFF_ROLES)),
) -> PairingOut:
    """One pairing and its projects; 404 for another town's."""
    async with uow:
        row = await service.get_pairing(uow=uow, principal=principal, pairing_id=pairing_id)
        return await service.pairing_out(uow.session, row)


@router.post("/pairings/{pairing_id}:{action}", response_model=PairingOut)
async def change_pairing(
    action: Literal["suspend", "resume", "end"],
    pairing_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*MANAGERS)),
) -> PairingOut:
    """``:suspend``, ``:resume`` or ``:end`` a pairing (R-OA-2). 409 ``invalid_status``."""
    async with uow:
        row = await service.change_pairing(uow=uow, principal=principal, pairing_id=pairing_id, action=action)
        await uow.commit()
        return await service.pairing_out(uow.session, row)


@router.post("/pairings/{pairing_id}/projects", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
async def add_project(
    body: ProjectIn,
    pairing_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*MANAGERS)),
) -> ProjectOut:
    """Add a project (帮扶项目: ``title``, ``description``, ``budget`` in yuan) to a live pairing."""
    async with uow:
        row = await service.add_project(uow=uow, principal=principal, pairing_id=pairing_id, data=body)
        await uow.commit()
        return service.project_out(row)


@router.post("/pairings/{pairing_id}/projects/{project_id}:{action}", response_model=ProjectOut)
async def change_project(
    action: Literal["start", "complete", "cancel"],
    pairing_id: int = Path(ge=1),
    project_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*MANAGERS)),
) -> ProjectOut:
    """``:start``, ``:complete`` or ``:cancel`` a project (R-OA-2). 409 ``invalid_status``."""
    async with uow:
        row = await service.change_project(
            uow=uow, principal=principal, pairing_id=pairing_id, project_id=project_id, action=action
        )
        await uow.commit()
        return service.project_out(row)
