"""``/api/v1/eligibility/households``, ``/persons``, ``/audit-log``, ``/towns`` and the resident ID
check. Town users see their own town only (another town's record answers 404, R-DB-7); every
staff read of a person's record is written to the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from fractions import Fraction
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from services.eligibility.access import (
    AUDIT_READERS,
    FULL_VIEW,
    READERS,
    WRITERS,
    audit_reads,
    can_see,
    full_view,
    scope_clauses,
)
from services.eligibility.decisions.models import Benefit
from services.eligibility.figures import local_date, show
from services.eligibility.registry import service
from services.eligibility.registry.models import (
    Asset,
    AuditEntry,
    Expenditure,
    Household,
    HouseholdChange,
    Income,
    Person,
    TownPopulation,
)
from services.eligibility.registry.schemas import (
    EXCLUDED_SOURCES,
    FINANCIAL_ASSETS,
    AssetIn,
    AssetOut,
    AuditOut,
    ExpenditureIn,
    ExpenditureOut,
    HistoryOut,
    HouseholdIn,
    HouseholdOut,
    HouseholdPatch,
    HouseholdReducedOut,
    HouseholdSummary,
    IdNumberIn,
    IdNumberOut,
    IncomeIn,
    IncomeOut,
    PersonIn,
    PersonOut,
    PersonPatch,
    PersonReducedOut,
    TownOut,
    TownPopulationIn,
)
from services.eligibility.schemas import IdNumber, TownCode, VillageCode
from shared import regions
from shared.app import get_uow
from shared.auditlog import audit_log_query
from shared.auth import DISTRICT_ADMIN, Principal, authenticated, client_of, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.idempotency import Idempotency
from shared.ids import IdNumberError, parse_id_number
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/eligibility", tags=["registry"])

Readers = Depends(require_roles(*READERS))
Writers = Depends(require_roles(*WRITERS))
FullReaders = Depends(require_roles(*FULL_VIEW))
HouseholdView = HouseholdOut | HouseholdReducedOut
PersonView = PersonOut | PersonReducedOut


# --- resident ID check ------------------------------------------------------------------------


@router.post("/id-numbers:evaluate", response_model=IdNumberOut, tags=["calculators"])
async def evaluate_id_number(body: IdNumberIn, request: Request, _: Principal = Depends(authenticated)) -> IdNumberOut:
    """Check a resident ID number (居民身份证号码, GB 11643-1999) and normalise it.

    Surrounding white space is stripped and a final ``x`` upper-cased; a legacy 15-digit number
    becomes 18 characters. Returns ``{"valid": true, "normalised", "birth_date", "sex",
    "region_code"}``; an invalid number answers 422 with ``code`` ``format``, ``length``,
    ``birth_date`` (no such date, or after today) or ``checksum``. Stores nothing.
    """
    try:
        resident = parse_id_number(body.id_number, today=local_date(request.app.state.clock.now()))
    except IdNumberError as exc:
        raise Problem(422, exc.code, exc.message, errors=[{"field": "id_number", "code": exc.code, "message": exc.message}]) from None
    return IdNumberOut(valid=True, normalised=resident.number, birth_date=resident.birth_date, sex=resident.sex, region_code=resident.region_code)


# --- households -------------------------------------------------------------------------------


def person_out(p: Person) -> PersonOut:
    return PersonOut(
        person_id=p.id, household_id=p.household_id, id_number=p.id_number, name=p.name, sex=p.sex,
        birth_date=p.birth_date, relation=p.relation, living_together=p.living_together, able_to_work=p.able_to_work,
        disability_grade=p.disability_grade, disability_kind=p.disability_kind,
        disability_certificate=p.disability_certificate, long_term_care=p.long_term_care,
        serious_illness=p.serious_illness, school_enrolment=p.school_enrolment,
        work_injury_care_allowance=p.work_injury_care_allowance, bank_account=p.bank_account,
        left_behind=p.left_behind, orphan=p.orphan, child_without_care=p.child_without_care,
        revolutionary_veteran=p.revolutionary_veteran, supporters=p.supporters or [], parents=p.parents or [],
        status=p.status, deceased_on=p.deceased_on, moved_on=p.moved_on, self_care_level=p.self_care_level,
        self_care_assessed_on=p.self_care_assessed_on, created_at=p.created_at, updated_at=p.updated_at,
    )


def income_out(r: Income) -> IncomeOut:
    return IncomeOut(id=r.id, person_id=r.person_id, source=r.source, counted=r.source not in EXCLUDED_SOURCES,
                     first_month=r.first_month, last_month=r.last_month, amount=r.amount, reported_by=r.reported_by)


def expenditure_out(r: Expenditure) -> ExpenditureOut:
    return ExpenditureOut(id=r.id, person_id=r.person_id, category=r.category, first_month=r.first_month,
                          last_month=r.last_month, amount=r.amount, reported_by=r.reported_by)


def asset_out(r: Asset) -> AssetOut:
    return AssetOut(id=r.id, kind=r.kind, value=r.value, financial=r.kind in FINANCIAL_ASSETS, disqualifying=r.disqualifying, note=r.note)


async def household_out(uow: UnitOfWork, household: Household) -> HouseholdOut:
    session = uow.session
    members = await service.members_of(session, household.id)
    incomes = (await session.scalars(select(Income).where(Income.household_id == household.id).order_by(Income.id))).all()
    expenditures = (await session.scalars(select(Expenditure).where(Expenditure.household_id == household.id).order_by(Expenditure.id))).all()
    assets = (await session.scalars(select(Asset).where(Asset.household_id == household.id).order_by(Asset.id))).all()
    return HouseholdOut(
        household_id=household.id, town=household.town, village=household.village, address=household.address,
        registered_poor=household.registered_poor, ex_poor=household.ex_poor, edge=household.edge,
        lonely_elderly=household.lonely_elderly, irregular_income=household.irregular_income,
        department_data=household.department_data, head_person_id=household.head_person_id, status=household.status,
        revision=household.revision, members=[person_out(p) for p in members],
        incomes=[income_out(r) for r in incomes], expenditures=[expenditure_out(r) for r in expenditures],
        assets=[asset_out(r) for r in assets], created_at=household.created_at, updated_at=household.updated_at,
    )


def for_role(principal: Principal, out: HouseholdOut | PersonOut) -> HouseholdView | PersonView:
    """The view the caller's role may have: the full one, or the reduced one (village officers,
    care workers: masked ID numbers, no bank accounts, no incomes, expenditure or assets)."""
    if full_view(principal):
        return out
    reduced = HouseholdReducedOut if isinstance(out, HouseholdOut) else PersonReducedOut
    return reduced.model_validate(out, from_attributes=True)


async def _audited_household(uow: UnitOfWork, request: Request, principal: Principal, household: Household, action: str = "read") -> HouseholdOut:
    out = await household_out(uow, household)
    await audit_reads(uow.session, request=request, principal=principal, at=uow.now(), record_type="person",
                      records=[(m.person_id, household.id) for m in out.members], action=action)
    return out


@router.post("/households", status_code=status.HTTP_201_CREATED, response_model=HouseholdOut)
async def register_household(
    body: HouseholdIn,
    request: Request,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Writers,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Any:
    """Register a household with its members (resident IDs validated and normalised; names in any
    Unicode), incomes of the last 12 months by source, rigid expenditure and assets.

    One person, one record: an ID number registered anywhere in the district answers 409
    ``id_number_registered`` with the ``household_id`` holding it. Bad input (unknown town or
    village, malformed ID number, negative or non-numeric amounts) answers 422 and stores nothing.
    Emits ``eligibility.household.registered``. ``Idempotency-Key`` replays the first answer.
    """
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:/households", payload=body.model_dump(mode="json"))
    async with uow:
        replay = await idem.replay(uow.session)
        if replay is not None:
            return JSONResponse(replay[1], status_code=replay[0])
        household = await service.register_household(uow=uow, principal=principal, actor=service.Actor.of(principal, client_of(request, principal)), data=body)
        out = await household_out(uow, household)
        idem.record(uow.session, 201, out.model_dump(mode="json"))
        await uow.commit()
        return out


@router.get("/households", response_model=Page[HouseholdSummary])
async def list_households(
    town: Annotated[TownCode | None, Query()] = None,
    village: Annotated[VillageCode | None, Query()] = None,
    registered_poor: bool | None = Query(None),
    ex_poor: bool | None = Query(None),
    edge: bool | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Readers,
) -> Page[HouseholdSummary]:
    """Households (no personal data), newest id order, filtered; a town user sees its own town,
    a village officer its own village."""
    async with uow:
        query = select(Household).order_by(Household.id).limit(page.limit + 1)
        query = query.where(*scope_clauses(principal, Household.town, Household.village))
        if town:
            query = query.where(Household.town == town)
        if village:
            query = query.where(Household.village == village)
        for column, value in ((Household.registered_poor, registered_poor), (Household.ex_poor, ex_poor), (Household.edge, edge)):
            if value is not None:
                query = query.where(column == value)
        if page.after:
            query = query.where(Household.id > uuid.UUID(str(page.after[0])))
        rows = list((await uow.session.scalars(query)).all())
        counts = await service.count_members(uow.session, [h.id for h in rows])
        items = [
            HouseholdSummary(household_id=h.id, town=h.town, village=h.village, registered_poor=h.registered_poor,
                             ex_poor=h.ex_poor, edge=h.edge, lonely_elderly=h.lonely_elderly, status=h.status,
                             member_count=counts.get(h.id, 0), revision=h.revision, updated_at=h.updated_at)
            for h in rows
        ]
        return make_page(items, page.limit, key=lambda h: [str(h.household_id)])


@router.get("/households/{household_id}", response_model=HouseholdView)
async def get_household(household_id: uuid.UUID, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Readers) -> HouseholdView:
    """The household with its members, incomes, expenditure and assets (audited read).

    Village officers and care workers get ``HouseholdReducedOut`` (members' ID numbers masked,
    no bank accounts, no incomes, expenditure or assets). 404 for a household of another town
    (R-DB-7) or, for a village officer, of another village."""
    async with uow:
        household = await service.get_household(uow.session, household_id, principal)
        out = await _audited_household(uow, request, principal, household)
        await uow.commit()
        return for_role(principal, out)


@router.patch("/households/{household_id}", response_model=HouseholdOut)
async def update_household(household_id: uuid.UUID, body: HouseholdPatch, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> HouseholdOut:
    """Change address, village or status flags (registered_poor 建档立卡, ex_poor, edge …); kept in
    the history; emits ``eligibility.household.changed``."""
    async with uow:
        household = await service.update_household(uow=uow, principal=principal, actor=service.Actor.of(principal, client_of(request, principal)), household_id=household_id, patch=body)
        out = await _audited_household(uow, request, principal, household)
        await uow.commit()
        return out


@router.post("/households/{household_id}/members", status_code=status.HTTP_201_CREATED, response_model=PersonOut)
async def add_member(household_id: uuid.UUID, body: PersonIn, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> PersonOut:
    """Add a member (409 ``id_number_registered`` if the person has a record anywhere)."""
    async with uow:
        person = await service.add_member(uow=uow, principal=principal, actor=service.Actor.of(principal, client_of(request, principal)), household_id=household_id, data=body)
        await uow.commit()
        return person_out(person)


@router.post("/households/{household_id}/incomes", status_code=status.HTTP_201_CREATED, response_model=IncomeOut)
async def add_income(household_id: uuid.UUID, body: IncomeIn, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> IncomeOut:
    """Record income over a period of months (yuan, whole fen) by source; excluded sources
    (优抚金, scholarships …) are kept but not counted (R-DB-2). History; a monitored household
    is re-evaluated (R-RM)."""
    async with uow:
        row = await service.add_income(uow=uow, principal=principal, actor=service.Actor.of(principal, client_of(request, principal)), household_id=household_id, entry=body)
        out = income_out(row)
        await uow.commit()
        return out


@router.post("/households/{household_id}/expenditures", status_code=status.HTTP_201_CREATED, response_model=ExpenditureOut)
async def add_expenditure(household_id: uuid.UUID, body: ExpenditureIn, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> ExpenditureOut:
    """Record rigid expenditure over a period by category (medical, disability, schooling,
    epidemic, disaster, employment_cost, other). History; monitored households re-evaluated."""
    async with uow:
        row = await service.add_expenditure(uow=uow, principal=principal, actor=service.Actor.of(principal, client_of(request, principal)), household_id=household_id, entry=body)
        out = expenditure_out(row)
        await uow.commit()
        return out


@router.post("/households/{household_id}/assets", status_code=status.HTTP_201_CREATED, response_model=AssetOut)
async def add_asset(household_id: uuid.UUID, body: AssetIn, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> AssetOut:
    """Record an asset (R-DB-3 asset test: deposits, securities and insurance are financial)."""
    async with uow:
        row = await service.add_asset(uow=uow, principal=principal, actor=service.Actor.of(principal, client_of(request, principal)), household_id=household_id, entry=body)
        out = asset_out(row)
        await uow.commit()
        return out


@router.delete("/households/{household_id}/{kind}/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_entry(household_id: uuid.UUID, kind: Literal["incomes", "expenditures", "assets"], entry_id: int, request: Request,
                       uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> None:
    """Remove an income, expenditure or asset entered by mistake (the history keeps it)."""
    async with uow:
        await service.delete_entry(uow=uow, principal=principal, actor=service.Actor.of(principal, client_of(request, principal)), household_id=household_id, kind=kind, entry_id=entry_id)
        await uow.commit()


@router.get("/households/{household_id}/history", response_model=Page[HistoryOut])
async def household_history(household_id: uuid.UUID, request: Request, page: PageParams = Depends(page_params), uow: UnitOfWork = Depends(get_uow), principal: Principal = FullReaders) -> Page[HistoryOut]:
    """Every change of the household and its members, oldest first: who, when, through which
    client, what changed (old and new values — ID numbers, bank accounts, amounts: so only the
    roles of the full view, 403 for the others). An audited read."""
    async with uow:
        household = await service.get_household(uow.session, household_id, principal)
        query = select(HouseholdChange).where(HouseholdChange.household_id == household.id).order_by(HouseholdChange.id).limit(page.limit + 1)
        if page.after:
            query = query.where(HouseholdChange.id > int(page.after[0]))
        rows = [HistoryOut(id=r.id, at=r.at, actor=r.actor, client=r.client, action=r.action, person_id=r.person_id, changes=r.changes)
                for r in (await uow.session.scalars(query)).all()]
        await audit_reads(uow.session, request=request, principal=principal, at=uow.now(), record_type="household",
                          records=[(household.id, household.id)], action="read_history")
        await uow.commit()
        return make_page(rows, page.limit, key=lambda r: [r.id])


# --- persons ----------------------------------------------------------------------------------


@router.get("/persons", response_model=Page[PersonView])
async def find_persons(
    request: Request,
    id_number: Annotated[IdNumber, Query(description="the resident ID number to look up")],
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Readers,
) -> Page[PersonView]:
    """Look a person up by resident ID number (one person, one record: 0 or 1 item; none for a
    person of another town, or of another village for a village officer). Audited. Village
    officers and care workers get ``PersonReducedOut``."""
    async with uow:
        person = await service.person_by_id_number(uow.session, id_number)
        items: list[PersonView] = []
        if person is not None:
            household = await uow.session.get(Household, person.household_id)
            if household is not None and can_see(principal, household.town, household.village):
                items.append(for_role(principal, person_out(person)))
                await audit_reads(uow.session, request=request, principal=principal, at=uow.now(), record_type="person",
                                  records=[(person.id, person.household_id)], action="lookup")
        await uow.commit()
        return Page(items=items, next_cursor=None)


@router.get("/persons/{person_id}", response_model=PersonView)
async def get_person(person_id: uuid.UUID, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Readers) -> PersonView:
    """A person's record (audited read); ``PersonReducedOut`` for village officers and care
    workers. 404 for a person of another town, or another village for a village officer."""
    async with uow:
        person, _ = await service.get_person(uow.session, person_id, principal)
        await audit_reads(uow.session, request=request, principal=principal, at=uow.now(), record_type="person",
                          records=[(person.id, person.household_id)])
        await uow.commit()
        return for_role(principal, person_out(person))


@router.patch("/persons/{person_id}", response_model=PersonOut)
async def update_person(person_id: uuid.UUID, body: PersonPatch, request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Writers) -> PersonOut:
    """Change a member's fields (disability, school, supporters …); history keeps old and new
    values; emits ``eligibility.household.changed`` with the full member list."""
    async with uow:
        person = await service.update_person(uow=uow, principal=principal, actor=service.Actor.of(principal, client_of(request, principal)), person_id=person_id, patch=body)
        out = person_out(person)
        await uow.commit()
        return out


# --- audit log --------------------------------------------------------------------------------


@router.get("/audit-log", response_model=Page[AuditOut], tags=["audit"])
async def audit_log(
    actor: str | None = Query(None, max_length=200),
    record_id: uuid.UUID | None = Query(None),
    household_id: uuid.UUID | None = Query(None),
    since: datetime | None = Query(None, alias="from"),
    until: datetime | None = Query(None, alias="to"),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*AUDIT_READERS)),
) -> Page[AuditOut]:
    """Staff reads of persons' records, newest first (auditor, district administrator): who, when,
    which record, through which client. Filters: actor (ignoring case, as usernames are),
    record_id, household_id, from, to."""
    async with uow:
        query = audit_log_query(AuditEntry, page, actor=actor, since=since, until=until, equal=(
            (AuditEntry.record_id, record_id), (AuditEntry.household_id, household_id)))
        rows = [AuditOut.model_validate(r, from_attributes=True) for r in (await uow.session.scalars(query)).all()]
        return make_page(rows, page.limit, key=lambda r: [r.id])


# --- towns ------------------------------------------------------------------------------------


@router.put("/towns/{town}/population", response_model=TownOut, tags=["towns"])
async def set_town_population(town: TownCode, body: TownPopulationIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(DISTRICT_ADMIN))) -> TownOut:
    """Record a town's registered population (户籍人口) for a year (coverage rates, R-DB-8)."""
    async with uow:
        row = await uow.session.get(TownPopulation, (town, body.year))
        if row is None:
            row = TownPopulation(town=town, year=body.year, registered_population=body.registered_population,
                                 updated_by=principal.subject, updated_at=uow.now())
            uow.session.add(row)
        else:
            row.registered_population, row.updated_by, row.updated_at = body.registered_population, principal.subject, uow.now()
        await uow.session.flush()
        out = (await _towns(uow, body.year, [town]))[0]
        await uow.commit()
        return out


@router.get("/towns", response_model=list[TownOut], tags=["towns"])
async def list_towns(year: int | None = Query(None, ge=2000, le=2100), uow: UnitOfWork = Depends(get_uow), principal: Principal = Readers) -> list[TownOut]:
    """Each town's registered population and current dibao coverage (dibao members / registered
    population, R-DB-8); a town user sees its own town."""
    async with uow:
        year = year or local_date(uow.now()).year
        codes = [t.code for t in regions.TOWNS if principal.can_see_town(t.code)]
        return await _towns(uow, year, codes)


async def _towns(uow: UnitOfWork, year: int, codes: list[str]) -> list[TownOut]:
    session = uow.session
    pops = {r.town: r for r in (await session.scalars(select(TownPopulation).where(TownPopulation.year == year, TownPopulation.town.in_(codes)))).all()}
    live = (await session.execute(
        select(Benefit.town, func.count(), func.coalesce(func.sum(func.jsonb_array_length(Benefit.members)), 0))
        .where(Benefit.status.in_(("active", "gradual_exit")), Benefit.category.in_(("dibao", "dibao_single_person")), Benefit.town.in_(codes))
        .group_by(Benefit.town)
    )).all()
    by_town = {t: (int(h), int(m)) for t, h, m in live}
    out = []
    for code in codes:
        households, members = by_town.get(code, (0, 0))
        pop = pops.get(code)
        rate = None
        if pop is not None:  # a percentage, half-up to two places
            rate = show(Fraction(members * 100, pop.registered_population))
        out.append(TownOut(town=code, name=regions.town(code).name, year=year if pop else None,
                           registered_population=pop.registered_population if pop else None,
                           dibao_households=households, dibao_members=members, coverage_rate=rate))
    return out
