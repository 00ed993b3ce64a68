"""Use cases of 阳光1+1 (R-OA-2, "社会组织+老区村" 牵手行动): the district designates old-area
villages and registers social organizations; the district or the village's town pairs them and
records the pairing's projects and their progress."""

from __future__ import annotations

from datetime import date

import structlog
from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.wishes import rules
from services.wishes.access import can_see_place
from services.wishes.pairings.models import OldAreaVillage, Organization, Pairing, PairingProject
from services.wishes.pairings.schemas import (
    OldAreaVillageOut, OrganizationIn, OrganizationOut, PairingIn, PairingOut, ProjectIn, ProjectOut,
)
from shared import regions
from shared.auth import Principal
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.pagination import PageParams

log = structlog.get_logger("wishes.pairings")


def _village(code: str) -> regions.Region:
    try:
        return regions.village(code)
    except regions.UnknownRegion as exc:
        raise Problem(422, exc.code, exc.message) from None


# --- old-area villages -----------------------------------------------------------------------


def village_out(row: OldAreaVillage) -> OldAreaVillageOut:
    return OldAreaVillageOut(
        village=row.village, village_name=regions.village(row.village).name, town=row.town,
        town_name=regions.town(row.town).name, note=row.note, designated_at=row.designated_at,
    )


async def designate_village(*, uow: UnitOfWork, principal: Principal, village: str, note: str | None) -> OldAreaVillage:
    """R-OA-2: mark a village as an old-area village (老区村); designating it again updates the note.
    422 ``unknown_village``."""
    region = _village(village)
    statement = insert(OldAreaVillage).values(
        village=region.code, town=region.parent_code, note=note, designated_at=uow.now(), designated_by=principal.subject
    )
    await uow.session.execute(statement.on_conflict_do_update(index_elements=[OldAreaVillage.village],
                                                              set_={"note": statement.excluded.note}))
    row = await uow.session.get(OldAreaVillage, region.code, populate_existing=True)
    assert row is not None
    log.info("wishes.old_area_village.designated", village=region.code)
    return row


async def list_villages(session: AsyncSession, town: str | None) -> list[OldAreaVillage]:
    query = select(OldAreaVillage).order_by(OldAreaVillage.village)
    if town is not None:
        query = query.where(OldAreaVillage.town == town)
    return list((await session.scalars(query)).all())


# --- organizations ---------------------------------------------------------------------------


def organization_out(row: Organization) -> OrganizationOut:
    return OrganizationOut(id=row.id, name=row.name, kind=row.kind, credit_code=row.credit_code, active=row.active,
                           created_at=row.created_at)


async def register_organization(*, uow: UnitOfWork, principal: Principal, data: OrganizationIn) -> Organization:
    """Register a social organization. 409 ``duplicate_credit_code``."""
    row = Organization(name=data.name, kind=data.kind, credit_code=data.credit_code, active=True,
                       created_at=uow.now(), created_by=principal.subject)
    uow.session.add(row)
    try:
        async with uow.session.begin_nested():
            await uow.session.flush()
    except IntegrityError:
        raise Problem(409, "duplicate_credit_code", "An organization with this credit code is registered") from None
    log.info("wishes.organization.registered", organization_id=row.id)
    return row


async def set_organization_active(*, uow: UnitOfWork, organization_id: int, active: bool) -> Organization:
    row = await uow.session.get(Organization, organization_id, with_for_update=True)
    if row is None:
        raise not_found("organization")
    row.active = active
    return row


async def list_organizations(session: AsyncSession, page: PageParams) -> list[Organization]:
    query = select(Organization).order_by(Organization.id).limit(page.limit + 1)
    if page.after:
        query = query.where(Organization.id > int(page.after[0]))
    return list((await session.scalars(query)).all())


# --- pairings and projects -------------------------------------------------------------------


def project_out(row: PairingProject) -> ProjectOut:
    return ProjectOut(id=row.id, pairing_id=row.pairing_id, title=row.title, description=row.description,
                      budget=row.budget, status=row.status, started_on=row.started_on,
                      completed_on=row.completed_on, updated_at=row.updated_at)


async def pairing_out(session: AsyncSession, row: Pairing) -> PairingOut:
    organization = await session.get(Organization, row.organization_id)
    assert organization is not None
    projects = (await session.scalars(
        select(PairingProject).where(PairingProject.pairing_id == row.id).order_by(PairingProject.id)
    )).all()
    return PairingOut(
        id=row.id, organization_id=row.organization_id, organization_name=organization.name, village=row.village,
        village_name=regions.village(row.village).name, town=row.town, town_name=regions.town(row.town).name,
        status=row.status, started_on=row.started_on, ended_on=row.ended_on, note=row.note,
        projects=[project_out(p) for p in projects], updated_at=row.updated_at,
    )


def _ensure_manager(principal: Principal, town: str) -> None:
    """District staff, or the town's staff for their own town's villages (404 otherwise)."""
    if not can_see_place(principal, town, None):
        raise not_found("pairing")


async def create_pairing(*, uow: UnitOfWork, principal: Principal, data: PairingIn) -> Pairing:
    """R-OA-2: pair an organization with an old-area village. 422 ``unknown_village``,
    404 organization; 409 ``not_old_area_village``, ``organization_inactive``, ``already_paired``."""
    session = uow.session
    region = _village(data.village)
    assert region.parent_code is not None
    _ensure_manager(principal, region.parent_code)
    organization = await session.get(Organization, data.organization_id)
    if organization is None:
        raise not_found("organization")
    old_area = await session.get(OldAreaVillage, region.code) is not None
    paired = bool(await session.scalar(select(exists().where(
        Pairing.organization_id == organization.id, Pairing.village == region.code, Pairing.status != "ended"
    ))))
    check = rules.pairing_check(old_area_village=old_area, organization_active=organization.active, already_paired=paired)
    if not check.allowed:
        raise Problem(409, check.code or "pairing_refused", f"The pairing is not possible: {check.code} (R-OA-2)")
    now = uow.now()
    row = Pairing(organization_id=organization.id, village=region.code, town=region.parent_code, status="active",
                  started_on=data.started_on, note=data.note, created_at=now, created_by=principal.subject,
                  updated_at=now)
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Problem(409, "already_paired", "The organization is already paired with this village (R-OA-2)") from None
    log.info("wishes.pairing.created", pairing_id=row.id, village=region.code)
    return row


async def get_pairing(*, uow: UnitOfWork, principal: Principal, pairing_id: int, lock: bool = False) -> Pairing:
    row = await uow.session.get(Pairing, pairing_id, with_for_update=lock or None, populate_existing=lock)
    if row is None:
        raise not_found("pairing")
    _ensure_manager(principal, row.town)
    return row


async def change_pairing(*, uow: UnitOfWork, principal: Principal, pairing_id: int, action: str) -> Pairing:
    """R-OA-2: ``suspend``, ``resume`` or ``end`` a pairing; 409 ``invalid_status``."""
    row = await get_pairing(uow=uow, principal=principal, pairing_id=pairing_id, lock=True)
    try:
        row.status = rules.next_status(rules.PAIRING_TRANSITIONS, action, row.status)
    except rules.InvalidTransition:
        raise Problem(409, "invalid_status", f"Cannot {action} a pairing that is {row.status}") from None
    today = local_today(uow.clock)
    if row.status == "ended":
        row.ended_on = today
    row.updated_at = uow.now()
    log.info("wishes.pairing.changed", pairing_id=row.id, action=action)
    return row


async def list_pairings(
    *, uow: UnitOfWork, principal: Principal, page: PageParams, town: str | None, village: str | None,
    organization_id: int | None, status: str | None,
) -> list[Pairing]:
    query = select(Pairing)
    if not principal.district_wide:
        query = query.where(Pairing.town == (principal.town or ""))
    for column, value in ((Pairing.town, town), (Pairing.village, village),
                          (Pairing.organization_id, organization_id), (Pairing.status, status)):
        if value is not None:
            query = query.where(column == value)
    if page.after:
        query = query.where(Pairing.id > int(page.after[0]))
    return list((await uow.session.scalars(query.order_by(Pairing.id).limit(page.limit + 1))).all())


async def add_project(*, uow: UnitOfWork, principal: Principal, pairing_id: int, data: ProjectIn) -> PairingProject:
    """A project of a live pairing (帮扶项目), planned. 409 ``invalid_status`` for an ended pairing."""
    pairing = await get_pairing(uow=uow, principal=principal, pairing_id=pairing_id, lock=True)
    if pairing.status == "ended":
        raise Problem(409, "invalid_status", "The pairing has ended")
    now = uow.now()
    row = PairingProject(pairing_id=pairing.id, title=data.title, description=data.description, budget=data.budget,
                         status="planned", created_at=now, updated_at=now)
    uow.session.add(row)
    pairing.updated_at = now
    await uow.session.flush()
    log.info("wishes.pairing.project_added", pairing_id=pairing.id, project_id=row.id)
    return row


async def change_project(
    *, uow: UnitOfWork, principal: Principal, pairing_id: int, project_id: int, action: str
) -> PairingProject:
    """R-OA-2: ``start``, ``complete`` or ``cancel`` a project; 409 ``invalid_status``."""
    pairing = await get_pairing(uow=uow, principal=principal, pairing_id=pairing_id)
    row = await uow.session.get(PairingProject, project_id, with_for_update=True, populate_existing=True)
    if row is None or row.pairing_id != pairing.id:
        raise not_found("project")
    try:
        row.status = rules.next_status(rules.PROJECT_TRANSITIONS, action, row.status)
    except rules.InvalidTransition:
        raise Problem(409, "invalid_status", f"Cannot {action} a project that is {row.status}") from None
    today: date = local_today(uow.clock)
    if row.status == "in_progress":
        row.started_on = today
    elif row.status in ("completed", "cancelled"):
        row.completed_on = today
    row.updated_at = uow.now()
    return row
