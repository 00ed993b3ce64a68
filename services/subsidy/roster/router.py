"""``/api/v1/subsidy/roster``: the projection's state, its rebuild, a person's record."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.subsidy.audit import record_read
from services.subsidy.common import Month
from services.subsidy.roster import service
from services.subsidy.roster.models import CareHomeAccount
from shared.app import get_uow
from shared.auth import AUDITOR, DISTRICT_ADMIN, DISTRICT_APPROVER, STAFF_ROLES, Principal, require_roles
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import not_found
from shared.ids import mask_id_number
from shared.money import Yuan
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/subsidy/roster", tags=["roster"])


class RosterStatus(BaseModel):
    counts: dict[str, int]
    active_benefits: dict[str, int]
    month: Month
    lag: dict[str, int] | None
    rebuilding: bool
    rebuild_requested_at: Any | None


class BenefitOut(BaseModel):
    benefit_id: str
    category: str
    household_id: str | None
    payee_id: str
    monthly_amount: Yuan
    amount_basis: str
    members_count: int
    effective_month: Month
    last_month: Month | None
    end_reason: str | None
    rule: str | None


class PersonOut(BaseModel):
    person_id: str
    household_id: str | None
    town: str | None
    village: str | None
    id_number: str | None
    birth_date: date | None
    disability_grade: int | None
    disability_kind: str | None
    long_term_care: bool
    work_injury_care_allowance: bool
    deceased_on: date | None
    bank_account_on_file: bool
    self_care_level: str | None
    benefits: list[BenefitOut]


@router.get("", response_model=RosterStatus)
async def roster_status(request: Request, uow: UnitOfWork = Depends(get_uow),
                        _: Principal = Depends(require_roles(DISTRICT_ADMIN, DISTRICT_APPROVER, AUDITOR))) -> RosterStatus:
    """Counts of the roster projection, benefits active this month by category, the events not yet
    handled per stream (``lag``) and whether a rebuild is catching up."""
    async with uow:
        data = await service.status(uow=uow, bus=request.app.state.bus, today=local_today(uow.clock))
    return RosterStatus(**data)


@router.post(":rebuild", status_code=202, response_model=RosterStatus)
async def rebuild_roster(request: Request, uow: UnitOfWork = Depends(get_uow),
                         principal: Principal = Depends(require_roles(DISTRICT_ADMIN))) -> RosterStatus:
    """Rebuild the roster by replaying the eligibility and care streams from their start
    (district administrator). Runs are refused (409 ``roster_rebuilding``) until ``lag`` is 0.
    503 ``event_bus_unavailable`` when NATS is down (nothing changed)."""
    async with uow:
        await service.rebuild(uow=uow, principal=principal, bus=request.app.state.bus)
    async with request.app.state.uow_factory() as read:
        data = await service.status(uow=read, bus=request.app.state.bus, today=local_today(read.clock))
    return RosterStatus(**data)


@router.get("/persons/{person_id}", response_model=PersonOut)
async def roster_person(person_id: str, request: Request, uow: UnitOfWork = Depends(get_uow),
                        principal: Principal = Depends(require_roles(*STAFF_ROLES))) -> PersonOut:
    """A person as the roster knows them, with the benefits covering them (ID number masked).
    Audited; another town's person is 404 for a town user."""
    async with uow:
        person, benefits, care = await service.person_record(uow=uow, person_id=person_id)
        if person is None:
            raise not_found("person")
        principal.ensure_town(person.town or "", "person")
        # written only once the person exists: the path then holds a registry id, not typed-in text
        record_read(uow.session, request, principal, at=uow.now(), action="subsidy.roster.person.read",
                    resource=f"person:{person.person_id}", records=[("person", person.person_id)])
        await uow.commit()
    return PersonOut(
        person_id=person.person_id, household_id=person.household_id, town=person.town, village=person.village,
        id_number=mask_id_number(person.id_number) if person.id_number else None, birth_date=person.birth_date,
        disability_grade=person.disability_grade, disability_kind=person.disability_kind,
        long_term_care=person.long_term_care, work_injury_care_allowance=person.work_injury_care_allowance,
        deceased_on=person.deceased_on, bank_account_on_file=bool(person.bank_account),
        self_care_level=care.level if care else None,
        benefits=[BenefitOut(
            benefit_id=b.benefit_id, category=b.category, household_id=b.household_id, payee_id=b.person_id,
            monthly_amount=b.monthly_amount or Decimal("0.00"), amount_basis=b.amount_basis,
            members_count=b.members_count, effective_month=b.effective_month, last_month=b.last_month,
            end_reason=b.end_reason, rule=b.rule,
        ) for b in benefits],
    )


homes_router = APIRouter(prefix="/api/v1/subsidy/care-homes", tags=["roster"])


class CareHomeAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home_name: str = Field(min_length=1, max_length=200)
    bank_account: str = Field(pattern=r"^[0-9]{8,32}$", description="the account the district's share is paid into")


class CareHomeAccountOut(BaseModel):
    home_id: str
    home_name: str
    bank_account: str = Field(description="masked but for the last 4 digits")
    updated_at: datetime
    updated_by: str


def _home_out(row: CareHomeAccount) -> CareHomeAccountOut:
    return CareHomeAccountOut(home_id=row.home_id, home_name=row.home_name, bank_account="*" * (len(row.bank_account) - 4) + row.bank_account[-4:],
                              updated_at=row.updated_at, updated_by=row.updated_by)


@homes_router.put("/{home_id}/account", response_model=CareHomeAccountOut)
async def set_care_home_account(home_id: str, body: CareHomeAccountIn, uow: UnitOfWork = Depends(get_uow),
                                principal: Principal = Depends(require_roles(DISTRICT_ADMIN))) -> CareHomeAccountOut:
    """Set the bank account of a care home (care's ``home_id``), into which the district's share of
    centralized-support fees is paid (R-TK-4). Without one, those lines are dropped
    ``no_bank_account`` and reported."""
    async with uow:
        stmt = insert(CareHomeAccount).values(home_id=home_id, home_name=body.home_name, bank_account=body.bank_account,
                                              updated_at=uow.now(), updated_by=principal.subject)
        await uow.session.execute(stmt.on_conflict_do_update(
            index_elements=[CareHomeAccount.home_id],
            set_={"home_name": stmt.excluded.home_name, "bank_account": stmt.excluded.bank_account,
                  "updated_at": stmt.excluded.updated_at, "updated_by": stmt.excluded.updated_by},
        ))
        row = await uow.session.get(CareHomeAccount, home_id, populate_existing=True)
        out = _home_out(row)
        await uow.commit()
    return out


@homes_router.get("", response_model=Page[CareHomeAccountOut])
async def list_care_home_accounts(page: PageParams = Depends(page_params), uow: UnitOfWork = Depends(get_uow),
                                  _: Principal = Depends(require_roles(DISTRICT_ADMIN, DISTRICT_APPROVER, AUDITOR))) -> Page[CareHomeAccountOut]:
    """Care homes with an account on file (accounts masked)."""
    async with uow:
        query = select(CareHomeAccount).order_by(CareHomeAccount.home_id).limit(page.limit + 1)
        if page.after:
            query = query.where(CareHomeAccount.home_id > str(page.after[0]))
        rows = [_home_out(r) for r in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda r: [r.home_id])
