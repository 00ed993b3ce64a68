"""Placement endpoints (R-TK-3): care homes, the waiting list, allocation, the centralized rate."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query

from services.care.common import (
    DISTRICT_ROLES,
    READ_ROLES,
    WRITE_ROLES,
    Model,
    cursor_key,
    paginate,
    parse_uuid,
    scope_clauses,
    today,
    town_filter,
    village_filter,
)
from services.care.persons.models import Person
from services.care.persons.service import audit, ensure_record_visible
from services.care.placement import rules
from services.care.placement.models import CareHome, PlacementRequest
from services.care.placement.schemas import (
    AllocateIn,
    AllocationEvaluation,
    AllocationOut,
    AllocationQuery,
    AssignmentOut,
    CentralizedRateOut,
    EndPlacementIn,
    ExcludedOut,
    HomeIn,
    HomeOut,
    HomePatch,
    PlacementOut,
    PlacementRequestIn,
    PlacementRequestOut,
    WaitingOut,
    WaitingRefOut,
)
from services.care.placement.service import (
    allocate,
    centralized_rate,
    create_home,
    end_placement,
    free_beds,
    list_homes,
    list_placements,
    occupancy,
    request_placement,
    update_home,
    waiting_list,
    withdraw_waiting,
)
from shared.app import get_uow
from shared.auth import Principal, authenticated, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/care", tags=["placement"])


def _home_out(home: CareHome, used: dict[str, int]) -> HomeOut:
    out = HomeOut.model_validate(home)
    out.occupied_nursing = used.get("nursing", 0)
    out.occupied_ordinary = used.get("ordinary", 0)
    out.free_nursing, out.free_ordinary = free_beds(home, used)
    return out


@router.post("/homes", response_model=HomeOut, status_code=201)
async def post_home(
    body: HomeIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(require_roles(*DISTRICT_ROLES))
) -> HomeOut:
    """Add a care home with its beds and nursing beds (district staff). 409 ``home_exists``;
    422 ``nursing_beds_exceed_beds``, ``village_not_in_town``."""
    async with uow:
        home = await create_home(uow=uow, data=body)
        out = _home_out(home, {})
        await uow.commit()
    return out


@router.get("/homes", response_model=Page[HomeOut])
async def get_homes(
    town: str | None = Query(None, description="only the homes of this town"),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[HomeOut]:
    """Care homes (the district's facilities, visible to all staff) with beds taken and free, by
    town and name."""
    async with uow:
        homes = [_home_out(h, used) for h, used in await list_homes(uow, town)]
    return paginate(homes, page, key=lambda h: [h.town, h.name])


@router.get("/homes/{home_id}", response_model=HomeOut)
async def get_home(
    home_id: str, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(require_roles(*READ_ROLES))
) -> HomeOut:
    async with uow:
        home = await uow.session.get(CareHome, parse_uuid(home_id, "care home"))
        if home is None:
            raise not_found("care home")
        return _home_out(home, (await occupancy(uow, [home.id])).get(home.id, {}))


@router.patch("/homes/{home_id}", response_model=HomeOut)
async def patch_home(
    home_id: str,
    body: HomePatch,
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*DISTRICT_ROLES)),
) -> HomeOut:
    """Change a home's beds, name or status. 409 ``beds_occupied``, ``home_exists``."""
    async with uow:
        home = await update_home(uow=uow, home_id=parse_uuid(home_id, "care home"), patch=body)
        await uow.session.flush()
        out = _home_out(home, (await occupancy(uow, [home.id])).get(home.id, {}))
        await uow.commit()
    return out


@router.post("/persons/{person_id}/placement-requests", response_model=PlacementRequestOut, status_code=201)
async def post_request(
    person_id: str,
    body: PlacementRequestIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> PlacementRequestOut:
    """Put a willing, assessed tekun person on the waiting list for centralized support.
    409 ``not_tekun``, ``not_willing``, ``not_assessed``, ``already_placed``, ``already_waiting``,
    ``person_deceased``; 422 ``future_date``, ``unknown_home``."""
    async with uow:
        request = await request_placement(
            uow=uow, principal=principal, person_id=parse_uuid(person_id, "person"),
            requested_on=body.requested_on, preferred_home_id=body.preferred_home_id,
        )
        out = PlacementRequestOut.model_validate(request)
        await uow.commit()
    return out


class WithdrawIn(Model):
    reason: Literal["not_willing", "moved_away", "other"] = "other"


@router.post("/placement-requests/{request_id}:withdraw", response_model=PlacementRequestOut)
async def withdraw_request(
    request_id: str,
    body: WithdrawIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> PlacementRequestOut:
    """Take a person off the waiting list. 404 unknown or not visible (another town's or, village
    officer, another village's person); 409 ``not_waiting``."""
    async with uow:
        request = await uow.session.get(PlacementRequest, parse_uuid(request_id, "placement request"), with_for_update=True)
        if request is None:
            raise not_found("placement request")
        await ensure_record_visible(uow, principal, request.town, request.person_id, "placement request")
        if request.status != "waiting":
            raise Problem(409, "not_waiting", "The request is no longer on the waiting list")
        await withdraw_waiting(uow, request.person_id, today(uow), body.reason)
        await uow.session.refresh(request)
        out = PlacementRequestOut.model_validate(request)
        await uow.commit()
    return out


@router.get("/waiting-list", response_model=Page[WaitingOut])
async def get_waiting_list(
    town: str | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[WaitingOut]:
    """The waiting list for centralized support in priority order (R-TK-3): full loss first,
    then partial loss, then self-care; within a level the earliest assessment, then the earliest
    request. ``position`` is the district-wide place; excluded entries (``not_willing``,
    ``not_assessed``) come last with their reason. A town sees its own entries, a village officer
    its village's persons'. Audited read. 404 another town (town staff)."""
    async with uow:
        entries = await waiting_list(uow, town_filter(principal, town), village_filter(principal))
        rows = list(enumerate(WaitingOut(**r) for r in entries))
        result = paginate(rows, page, key=lambda r: [r[0]])
        audit(uow, principal, "waiting_list.read", count=len(result.items))
        await uow.commit()
    return Page[WaitingOut](items=[w for _, w in result.items], next_cursor=result.next_cursor)


@router.post("/placements:allocate", response_model=AllocationOut)
async def post_allocate(
    body: AllocateIn | None = None,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*DISTRICT_ROLES)),
) -> AllocationOut:
    """Allocate the free beds of every active home to the waiting list in priority order (R-TK-3;
    district staff). A full-loss person gets a nursing bed; fewer beds than candidates leave the
    lower-priority ones waiting. Emits ``care.placement.made`` per placement."""
    async with uow:
        placements, waiting, trace = await allocate(uow=uow, principal=principal, town_code=body.town if body else None)
        out = AllocationOut(
            placements=[PlacementOut.model_validate(p) for p in placements],
            waiting=[WaitingOut(**w) for w in waiting],
            trace=trace,
        )
        await uow.commit()
    return out


@router.get("/placements", response_model=Page[PlacementOut])
async def get_placements(
    town: str | None = Query(None),
    home_id: uuid.UUID | None = Query(None),
    status: Literal["active", "ended"] | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[PlacementOut]:
    """Placements by start date (a town sees its own persons', a village officer its village's
    persons'). 404 another town (town staff); 422 ``invalid_cursor``."""
    async with uow:
        rows = await list_placements(
            uow, scope=scope_clauses(principal, town, Person.town, Person.village), home_id=home_id, status=status,
            limit=page.limit, after=cursor_key(page.after, date.fromisoformat, uuid.UUID),
        )
        items = [PlacementOut.model_validate(p) for p in rows]
    return make_page(items, page.limit, key=lambda p: [p.started_on.isoformat(), str(p.id)])


@router.post("/placements/{placement_id}:end", response_model=PlacementOut)
async def post_end(
    placement_id: str,
    body: EndPlacementIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> PlacementOut:
    """End a placement; its bed is free again. Emits ``care.placement.ended``. 409
    ``placement_ended``; 422 ``future_date``, ``ended_before_start``."""
    async with uow:
        placement = await end_placement(
            uow=uow, principal=principal, placement_id=parse_uuid(placement_id, "placement"),
            ended_on=body.ended_on, reason=body.reason,
        )
        out = PlacementOut.model_validate(placement)
        await uow.commit()
    return out


@router.post("/allocation:evaluate", response_model=AllocationEvaluation)
async def evaluate_allocation(body: AllocationQuery, _: Principal = Depends(authenticated)) -> AllocationEvaluation:
    """Calculator of bed allocation (R-TK-3); stores nothing. Candidates are placed in priority
    order (willing only; full loss, then partial loss, then self-care; earliest assessment, then
    earliest request); a full-loss candidate needs a nursing bed. 422 ``duplicate_ref``."""
    for field, refs in (("candidates", [c.ref for c in body.candidates]), ("homes", [h.ref for h in body.homes])):
        if len(set(refs)) != len(refs):
            raise Problem(422, "duplicate_ref", f"{field} refs must be unique",
                          errors=[{"field": field, "code": "duplicate_ref", "message": "refs must be unique"}])
    result = rules.allocate(
        [rules.Candidate(c.ref, c.level, c.willing, c.town, c.assessed_on, c.requested_on, c.preferred_home) for c in body.candidates],
        [rules.HomeBeds(h.ref, h.town, h.free_nursing, h.free_ordinary) for h in body.homes],
    )
    return AllocationEvaluation(
        assignments=[AssignmentOut(ref=a.ref, home=a.home, bed_type=a.bed_type, priority=a.priority) for a in result.assignments],
        waiting=[WaitingRefOut(ref=w.ref, position=w.position, reason=w.reason) for w in result.waiting],
        excluded=[ExcludedOut(ref=e.ref, reason=e.reason) for e in result.excluded],
        trace=result.trace() | {"inputs": body.model_dump(mode="json")},
    )


@router.get("/kpis/centralized-rate", response_model=CentralizedRateOut)
async def get_centralized_rate(
    on: date | None = Query(None, description="the date (default today)"),
    town: str | None = Query(None),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> CentralizedRateOut:
    """Centralized-support rate (集中供养率) among full-loss tekun persons on ``on``, per town and
    for the district, against ``centralized_rate_target`` (R-TK-3; 50% by year end)."""
    async with uow:
        result = await centralized_rate(uow, on or today(uow), town_filter(principal, town))
    return CentralizedRateOut(**result)


