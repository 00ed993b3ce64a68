"""Approval-route calculator (R-TR-3/4) and the towns' reserve funds (备用金, R-TR-4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.relief.funds import service
from services.relief.funds.models import ReserveAccount
from services.relief.funds.schemas import (
    ApprovalRouteIn,
    ApprovalRouteOut,
    EntryOut,
    FundingIn,
    ReserveListOut,
    ReserveOut,
)
from services.relief.parameters.rules import PolicySet
from services.relief.parameters.service import policy_on
from shared.app import get_uow
from shared.auth import (
    DISTRICT_ADMIN,
    DISTRICT_APPROVER,
    STAFF_ROLES,
    Principal,
    authenticated,
    require_roles,
)
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams, make_page, page_params
from shared.regions import DISTRICT, TOWNS, UnknownRegion
from shared.regions import town as town_region

router = APIRouter(prefix="/api/v1/relief", tags=["approval and reserve funds"])

Year = Path(ge=2000, le=2099, description="calendar year of the reserve (2000 .. 2099)")


def _town_path(town: str = Path(description="town (镇/街道) division code")) -> str:
    try:
        return town_region(town).code
    except UnknownRegion:
        raise Problem(404, "not_found", "town not found") from None


@router.post("/approval-route:evaluate", response_model=ApprovalRouteOut)
async def evaluate_approval_route(
    body: ApprovalRouteIn, request: Request, principal: Principal = Depends(authenticated)
) -> ApprovalRouteOut:
    """Who approves a temporary-relief (临时救助) amount — R-TR-3 tiers and R-TR-4 reserve; stores nothing.

    ``{"amount": "2500.00", "town": "350505100"}`` (+ optional what-if ``reserve_left`` yuan,
    optional ``on`` date) → ``{"approver": "town" | "district", "refused": null |
    "reserve_insufficient", "allowed", "reserve_left", "year", "trace"}``. Amount ≤ 3,000 yuan:
    the town, if its reserve left for the year covers it; ≤ 5,000: the district. Errors (422
    problem+json, with the trace): ``invalid_amount`` (0, negative, sub-fen, not a number),
    ``over_case_cap`` (above 5,000), ``unknown_town``. A town-scoped caller may read only its own
    town's reserve (404 otherwise) unless it gives ``reserve_left``.
    """
    if body.reserve_left is None:
        principal.ensure_town(body.town, "town")
    async with request.app.state.sessionmaker() as session:
        route, trace = await service.evaluate_route(
            session=session, clock_today=local_today(request.app.state.clock), amount=body.amount,
            town=body.town, reserve_left_what_if=body.reserve_left, on=body.on,
        )
    if route.refused in ("invalid_amount", "over_case_cap"):
        detail = (
            f"{body.amount:.2f} yuan exceeds the cap of {trace['figures']['case_cap']} yuan per case (R-TR-3)"
            if route.refused == "over_case_cap" else "The amount must be a positive whole number of fen"
        )
        raise Problem(422, route.refused, detail, trace=trace)
    return ApprovalRouteOut(
        approver=route.approver, refused=route.refused, allowed=route.allowed, amount=body.amount, town=body.town,
        year=trace["figures"]["reserve_year"], reserve_left=Decimal(trace["figures"]["reserve_left"]), trace=trace,
    )


def _reserve_out(town: str, name: str, year: int, account: ReserveAccount | None, policy: PolicySet) -> ReserveOut:
    zero = Decimal("0.00")
    figures = service.usage(account, policy)
    return ReserveOut(
        town=town, town_name=name, year=year,
        allocated=account.allocated if account else zero,
        topped_up=account.topped_up if account else zero,
        allocated_total=figures["allocated_total"], paid=figures["paid"],
        balance=account.balance if account else zero,
        usage_rate=figures["usage_rate"], usage_target=figures["usage_target"], meets_target=figures["meets_target"],
    )


async def _policy_for_year(session: AsyncSession, year: int) -> PolicySet:
    """The parameters in force at the end of ``year`` (the usage target of its KPI)."""
    return await policy_on(session, date(year, 12, 31))


@router.get("/reserves", response_model=ReserveListOut)
async def list_reserves(
    request: Request,
    year: int = Query(ge=2000, le=2099),
    principal: Principal = Depends(require_roles(*STAFF_ROLES)),
) -> ReserveListOut:
    """Each town's reserve (备用金) for ``year`` with its usage rate (R-TR-4 KPI: paid / allocated
    ≥ 90 %), and the district's totals. A town-scoped user gets its own town only."""
    towns = [t for t in TOWNS if principal.can_see_town(t.code)]
    async with request.app.state.sessionmaker() as session:
        policy = await _policy_for_year(session, year)
        accounts = await service.list_accounts(session, year=year, towns=[t.code for t in towns])
    items = [_reserve_out(t.code, t.name, year, accounts.get(t.code), policy) for t in towns]
    total = ReserveAccount(
        town=DISTRICT.code, year=year,
        allocated=sum((a.allocated for a in accounts.values()), Decimal("0.00")),
        topped_up=sum((a.topped_up for a in accounts.values()), Decimal("0.00")),
        paid=sum((a.paid for a in accounts.values()), Decimal("0.00")),
        balance=sum((a.balance for a in accounts.values()), Decimal("0.00")),
    )
    return ReserveListOut(year=year, items=items, district=_reserve_out(DISTRICT.code, DISTRICT.name, year, total, policy))


@router.get("/reserves/{town}/{year}", response_model=ReserveOut)
async def get_reserve(
    request: Request,
    town: str = Depends(_town_path),
    year: int = Year,
    principal: Principal = Depends(require_roles(*STAFF_ROLES)),
) -> ReserveOut:
    """One town's reserve for ``year`` (yuan) and its usage rate (R-TR-4); 404 for another town."""
    principal.ensure_town(town, "reserve")
    async with request.app.state.sessionmaker() as session:
        policy = await _policy_for_year(session, year)
        account = await service.get_account(session, town, year)
    return _reserve_out(town, town_region(town).name, year, account, policy)


@router.get("/reserves/{town}/{year}/entries", response_model=Page[EntryOut])
async def list_reserve_entries(
    request: Request,
    town: str = Depends(_town_path),
    year: int = Year,
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(require_roles(*STAFF_ROLES)),
) -> Page[EntryOut]:
    """The ledger of one town's reserve for ``year``, oldest first: allocation, top-ups, payments."""
    principal.ensure_town(town, "reserve")
    after = int(page.after[0]) if page.after else None
    async with request.app.state.sessionmaker() as session:
        rows = await service.list_entries(session, town=town, year=year, limit=page.limit, after_id=after)
    return make_page([EntryOut.of(r) for r in rows], page.limit, key=lambda e: [e.id])


@router.post("/reserves/{town}/{year}/entries", response_model=EntryOut, status_code=201)
async def book_reserve_entry(
    body: FundingIn,
    request: Request,
    town: str = Depends(_town_path),
    year: int = Year,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN, DISTRICT_APPROVER)),
):
    """Book a town's ``allocation`` for the year (once; 409 ``already_allocated``) or a ``top_up``
    (yuan > 0), by the district office. ``Idempotency-Key`` honoured: the same key and body replay
    the first answer."""
    payload = {"town": town, "year": year, **body.model_dump(mode="json")}
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:/api/v1/relief/reserves/entries", payload=payload)
    async with uow:
        replayed = await idem.replay(uow.session)
        if replayed is not None:
            return JSONResponse(replayed[1], status_code=replayed[0])
        entry = await service.book_funding(
            uow=uow, principal=principal, town=town, year=year, kind=body.kind, amount=body.amount,
            reference=body.reference, note=body.note,
        )
        out = EntryOut.of(entry)
        idem.record(uow.session, 201, out.model_dump(mode="json"))
        await uow.commit()
    return out
