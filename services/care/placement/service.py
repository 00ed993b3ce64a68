"""Use cases of placement in centralized support (R-TK-3): homes, waiting list, allocation, KPI."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, func, or_, select, text, update

from services.care import events
from services.care.common import check_village_in_town, ensure_not_future, today
from services.care.parameters.service import parameters_on
from services.care.persons.models import Person
from services.care.persons.service import ensure_alive, person_ref, visible_person
from services.care.placement import rules
from services.care.placement.models import CareHome, Placement, PlacementRequest
from services.care.placement.schemas import HomeIn, HomePatch, RateOut
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.regions import DISTRICT, TOWNS

log = structlog.get_logger("care.placement")

RATE_TARGET = "centralized_rate_target"


# --- homes -----------------------------------------------------------------------------------


async def occupancy(uow: UnitOfWork, home_ids: list[uuid.UUID] | None = None) -> dict[uuid.UUID, dict[str, int]]:
    """Active placements per home and bed type."""
    query = (
        select(Placement.home_id, Placement.bed_type, func.count())
        .where(Placement.status == "active")
        .group_by(Placement.home_id, Placement.bed_type)
    )
    if home_ids is not None:
        query = query.where(Placement.home_id.in_(home_ids))
    result: dict[uuid.UUID, dict[str, int]] = {}
    for home_id, bed_type, count in (await uow.session.execute(query)).all():
        result.setdefault(home_id, {"nursing": 0, "ordinary": 0})[bed_type] = count
    return result


def free_beds(home: CareHome, used: dict[str, int]) -> tuple[int, int]:
    """(free nursing, free ordinary) beds of ``home`` given its occupancy."""
    return home.nursing_beds - used.get("nursing", 0), home.beds - home.nursing_beds - used.get("ordinary", 0)


async def create_home(*, uow: UnitOfWork, data: HomeIn) -> CareHome:
    """Add a care home. 409 ``home_exists`` for a name in use; 422 ``village_not_in_town``."""
    check_village_in_town(data.town, data.village)
    if await uow.session.scalar(select(CareHome.id).where(CareHome.name == data.name)) is not None:
        raise Problem(409, "home_exists", "A care home with this name exists")
    home = CareHome(**data.model_dump(), active=True)
    uow.session.add(home)
    await uow.session.flush()
    return home


async def update_home(*, uow: UnitOfWork, home_id: uuid.UUID, patch: HomePatch) -> CareHome:
    """Change a home's name, beds or status. 409 ``beds_occupied`` when fewer beds of a type than
    placed persons would remain; 422 ``nursing_beds_exceed_beds``."""
    home = await uow.session.scalar(select(CareHome).where(CareHome.id == home_id).with_for_update())
    if home is None:
        raise not_found("care home")
    changes = patch.model_dump(exclude_unset=True)
    beds = changes.get("beds", home.beds)
    nursing = changes.get("nursing_beds", home.nursing_beds)
    if nursing > beds:
        raise Problem(422, "nursing_beds_exceed_beds", "nursing_beds must not exceed beds")
    used = (await occupancy(uow, [home.id])).get(home.id, {})
    if nursing < used.get("nursing", 0) or beds - nursing < used.get("ordinary", 0):
        raise Problem(409, "beds_occupied", "More persons are placed than the beds would allow")
    if changes.get("name") and changes["name"] != home.name:
        if await uow.session.scalar(select(CareHome.id).where(CareHome.name == changes["name"])) is not None:
            raise Problem(409, "home_exists", "A care home with this name exists")
    for key, value in changes.items():
        setattr(home, key, value)
    return home


async def list_homes(uow: UnitOfWork, town_code: str | None = None) -> list[tuple[CareHome, dict[str, int]]]:
    query = select(CareHome).order_by(CareHome.town, CareHome.name)
    if town_code is not None:
        query = query.where(CareHome.town == town_code)
    homes = list((await uow.session.scalars(query)).all())
    used = await occupancy(uow, [h.id for h in homes])
    return [(h, used.get(h.id, {})) for h in homes]


# --- waiting list ----------------------------------------------------------------------------


async def request_placement(
    *, uow: UnitOfWork, principal: Principal, person_id: uuid.UUID, requested_on: date | None,
    preferred_home_id: uuid.UUID | None,
) -> PlacementRequest:
    """Put a tekun person on the waiting list. 409 ``not_tekun``, ``person_deceased``,
    ``not_willing`` (willingness not recorded as yes), ``not_assessed``, ``already_placed``,
    ``already_waiting``; 422 ``future_date``, ``unknown_home``."""
    person = await visible_person(uow, principal, person_id, for_update=True)
    ensure_alive(person)
    if not person.tekun:
        raise Problem(409, "not_tekun", "Centralized support is for tekun persons (特困人员)")
    if person.willing_centralized is not True:
        raise Problem(409, "not_willing", "The person's willingness for centralized support is not recorded as yes")
    if person.self_care_level is None:
        raise Problem(409, "not_assessed", "Assess the person's self-care ability first (R-TK-2)")
    on = requested_on or today(uow)
    ensure_not_future(on, today(uow), "requested_on")
    if await uow.session.scalar(select(Placement.id).where(Placement.person_id == person.id, Placement.status == "active")):
        raise Problem(409, "already_placed", "The person is already in centralized support")
    if await uow.session.scalar(
        select(PlacementRequest.id).where(PlacementRequest.person_id == person.id, PlacementRequest.status == "waiting")
    ):
        raise Problem(409, "already_waiting", "The person is already on the waiting list")
    if preferred_home_id is not None and await uow.session.scalar(
        select(CareHome.id).where(CareHome.id == preferred_home_id, CareHome.active.is_(True))
    ) is None:
        raise Problem(422, "unknown_home", "No active care home with this id",
                      errors=[{"field": "preferred_home_id", "code": "unknown_home", "message": "unknown care home"}])
    request = PlacementRequest(
        person_id=person.id, town=person.town, requested_on=on, preferred_home_id=preferred_home_id,
        status="waiting", created_by=principal.subject, created_at=uow.now(),
    )
    uow.session.add(request)
    await uow.session.flush()
    return request


async def withdraw_waiting(uow: UnitOfWork, person_id: uuid.UUID, on: date, reason: str) -> None:
    """Take a person off the waiting list (no longer willing, deceased, support ended)."""
    await uow.session.execute(
        update(PlacementRequest)
        .where(PlacementRequest.person_id == person_id, PlacementRequest.status == "waiting")
        .values(status="withdrawn", closed_on=on, close_reason=reason)
    )


async def _waiting(uow: UnitOfWork, town_code: str | None, *, lock: bool) -> list[tuple[PlacementRequest, Person]]:
    query = (
        select(PlacementRequest, Person)
        .join(Person, Person.id == PlacementRequest.person_id)
        .where(PlacementRequest.status == "waiting")
        .order_by(PlacementRequest.id)
    )
    if town_code is not None:
        query = query.where(PlacementRequest.town == town_code)
    if lock:
        query = query.with_for_update(of=PlacementRequest)
    return [(r, p) for r, p in (await uow.session.execute(query)).all()]


def _candidate(request: PlacementRequest, person: Person) -> rules.Candidate:
    return rules.Candidate(
        ref=str(request.id),
        level=person.self_care_level,
        willing=bool(person.willing_centralized) and person.tekun and person.deceased_on is None,
        town=person.town,
        assessed_on=person.level_assessed_on,
        requested_on=request.requested_on,
        preferred_home=str(request.preferred_home_id) if request.preferred_home_id else None,
    )


async def waiting_list(uow: UnitOfWork, town_code: str | None, village_code: str | None = None) -> list[dict[str, Any]]:
    """The waiting list in priority order (R-TK-3), positions from 1; excluded entries last;
    limited to the requests of ``town_code`` and to the persons of ``village_code`` (a village
    officer's, see :func:`~services.care.common.village_filter`) when given.

    Positions are those of the whole district's list (a town, or a village, sees its own entries'
    places in it).
    """
    entries = await _waiting(uow, None, lock=False)
    placeable, excluded = rules.order_candidates(_candidate(r, p) for r, p in entries)
    by_ref = {str(r.id): (r, p) for r, p in entries}
    rows: list[dict[str, Any]] = []
    ordered = [(c.ref, i, None) for i, c in enumerate(placeable, start=1)] + [(e.ref, None, e.reason) for e in excluded]
    for ref, position, reason in ordered:
        request, person = by_ref[ref]
        if town_code is not None and request.town != town_code:
            continue
        if village_code is not None and person.village != village_code:
            continue
        rows.append({
            "request_id": request.id, "person_id": person.id, "name": person.name, "town": request.town,
            "level": person.self_care_level, "assessed_on": person.level_assessed_on,
            "requested_on": request.requested_on, "position": position, "excluded_reason": reason,
        })
    return rows


# --- allocation ------------------------------------------------------------------------------


async def allocate(
    *, uow: UnitOfWork, principal: Principal, town_code: str | None
) -> tuple[list[Placement], list[dict[str, Any]], dict[str, Any]]:
    """Allocate free beds to the waiting list in priority order (R-TK-3) and emit
    ``care.placement.made`` per placement. Homes are locked (FOR UPDATE) so two allocations never
    give the same bed. Returns (placements, the remaining waiting list, trace)."""
    homes = list(
        (await uow.session.scalars(
            select(CareHome).where(CareHome.active.is_(True)).order_by(CareHome.name).with_for_update()
        )).all()
    )
    used = await occupancy(uow, [h.id for h in homes])
    capacity = [rules.HomeBeds(str(h.id), h.town, *free_beds(h, used.get(h.id, {}))) for h in homes]
    entries = await _waiting(uow, town_code, lock=True)
    by_ref = {str(r.id): (r, p) for r, p in entries}
    result = rules.allocate([_candidate(r, p) for r, p in entries], capacity)
    on = today(uow)
    homes_by_id = {str(h.id): h for h in homes}
    placements = []
    for assignment in result.assignments:
        request, person = by_ref[assignment.ref]
        home = homes_by_id[assignment.home]
        placement = Placement(
            person_id=person.id, home_id=home.id, request_id=request.id, bed_type=assignment.bed_type,
            level=person.self_care_level, priority=assignment.priority, started_on=on, status="active",
            created_by=principal.subject, created_at=uow.now(),
        )
        uow.session.add(placement)
        await uow.session.flush()
        request.status = "placed"
        request.placement_id = placement.id
        request.closed_on = on
        request.close_reason = "placed"
        uow.emit(
            events.PLACEMENT_MADE,
            events.PlacementMade(
                **person_ref(person), placement_id=str(placement.id), home_id=str(home.id), home_name=home.name,
                home_town=home.town, bed_type=assignment.bed_type, started_on=on, level=person.self_care_level,
            ),
            subject=str(placement.id),
        )
        placements.append(placement)
    waiting = [
        {"request_id": by_ref[w.ref][0].id, "person_id": by_ref[w.ref][1].id, "name": by_ref[w.ref][1].name,
         "town": by_ref[w.ref][0].town, "level": by_ref[w.ref][1].self_care_level,
         "assessed_on": by_ref[w.ref][1].level_assessed_on, "requested_on": by_ref[w.ref][0].requested_on,
         "position": w.position, "excluded_reason": None}
        for w in result.waiting
    ] + [
        {"request_id": by_ref[e.ref][0].id, "person_id": by_ref[e.ref][1].id, "name": by_ref[e.ref][1].name,
         "town": by_ref[e.ref][0].town, "level": by_ref[e.ref][1].self_care_level,
         "assessed_on": by_ref[e.ref][1].level_assessed_on, "requested_on": by_ref[e.ref][0].requested_on,
         "position": None, "excluded_reason": e.reason}
        for e in result.excluded
    ]
    trace = result.trace() | {
        "on": on.isoformat(),
        "homes": [{"home_id": c.ref, "free_nursing": c.free_nursing, "free_ordinary": c.free_ordinary} for c in capacity],
    }
    log.info("care.placement.allocated", placed=len(placements), waiting=len(result.waiting))
    return placements, waiting, trace


async def end_placement(
    *, uow: UnitOfWork, principal: Principal, placement_id: uuid.UUID, ended_on: date, reason: str
) -> Placement:
    """End a placement (the bed is free from ``ended_on``) and emit ``care.placement.ended``.
    404; 409 ``placement_ended``; 422 ``future_date``, ``ended_before_start``."""
    placement = await uow.session.scalar(select(Placement).where(Placement.id == placement_id).with_for_update())
    if placement is None:
        raise not_found("placement")
    person = await visible_person(uow, principal, placement.person_id)
    if placement.status != "active":
        raise Problem(409, "placement_ended", "The placement has already ended")
    ensure_not_future(ended_on, today(uow), "ended_on")
    if ended_on < placement.started_on:
        raise Problem(422, "ended_before_start", "ended_on is before the placement started")
    _end(uow, placement, person, ended_on, reason)
    return placement


def _end(uow: UnitOfWork, placement: Placement, person: Person, ended_on: date, reason: str) -> None:
    placement.status = "ended"
    placement.ended_on = ended_on
    placement.end_reason = reason
    uow.emit(
        events.PLACEMENT_ENDED,
        events.PlacementEnded(
            **person_ref(person), placement_id=str(placement.id), home_id=str(placement.home_id), ended_on=ended_on,
            reason=reason,
        ),
        subject=str(placement.id),
    )


async def end_for_person(uow: UnitOfWork, person: Person, ended_on: date, reason: str) -> None:
    """End a person's active placement and waiting-list entry (death)."""
    placement = await uow.session.scalar(
        select(Placement).where(Placement.person_id == person.id, Placement.status == "active").with_for_update()
    )
    if placement is not None:
        _end(uow, placement, person, max(ended_on, placement.started_on), reason)
    await withdraw_waiting(uow, person.id, ended_on, reason)


async def list_placements(
    uow: UnitOfWork, *, scope: list[ColumnElement[bool]], home_id: uuid.UUID | None, status: str | None, limit: int,
    after: tuple[Any, ...] | None,
) -> list[Placement]:
    """Placements by start date, limited by ``scope``: WHERE clauses on the placed ``Person``
    (joined; a placement carries neither town nor village — the home's town is not the person's)."""
    query = (
        select(Placement).join(Person, Person.id == Placement.person_id).where(*scope)
        .order_by(Placement.started_on, Placement.id).limit(limit + 1)
    )
    if home_id is not None:
        query = query.where(Placement.home_id == home_id)
    if status is not None:
        query = query.where(Placement.status == status)
    if after is not None:
        query = query.where(or_(Placement.started_on > after[0], and_(Placement.started_on == after[0], Placement.id > after[1])))
    return list((await uow.session.scalars(query)).all())


# --- KPI ------------------------------------------------------------------------------------

_RATE_SQL = text(
    """
    WITH latest AS (
        SELECT DISTINCT ON (a.person_id) a.person_id, a.level
        FROM assessments a
        WHERE a.assessed_on <= :on
        ORDER BY a.person_id, a.assessed_on DESC, a.recorded_at DESC
    )
    SELECT p.town,
           count(DISTINCT p.id) AS full_loss,
           count(DISTINCT p.id) FILTER (WHERE pl.id IS NOT NULL) AS centralized
    FROM persons p
    JOIN latest l ON l.person_id = p.id AND l.level = 'full_loss'
    LEFT JOIN placements pl
           ON pl.person_id = p.id AND pl.started_on <= :on AND (pl.ended_on IS NULL OR pl.ended_on > :on)
    WHERE (p.tekun_since IS NULL OR p.tekun_since <= :on)
      AND (p.tekun OR (p.tekun_until IS NOT NULL AND p.tekun_until + interval '1 month' > :on))
      AND (p.deceased_on IS NULL OR p.deceased_on > :on)
    GROUP BY p.town
    """
)


async def centralized_rate(uow: UnitOfWork, on: date, town_code: str | None) -> dict[str, Any]:
    """R-TK-3 KPI (集中供养率) on ``on``: per town and for the district (left out when ``town_code``
    limits it), the full-loss tekun persons (their
    latest assessment on or before ``on``), those in centralized support that day, the rate and
    whether it reaches ``centralized_rate_target``."""
    params = await parameters_on(uow, on, [RATE_TARGET])
    target = params.get(RATE_TARGET)
    counts = {row.town: (row.full_loss, row.centralized) for row in (await uow.session.execute(_RATE_SQL, {"on": on})).all()}

    def rate_out(code: str | None, name: str, full: int, placed: int) -> RateOut:
        return RateOut(
            town=code, town_name=name, full_loss=full, centralized=placed,
            rate=rules.centralized_rate(full, placed), met=rules.target_met(full, placed, target),
        )

    towns = [rate_out(t.code, t.name, *counts.get(t.code, (0, 0))) for t in TOWNS if town_code in (None, t.code)]
    total_full = sum(c[0] for c in counts.values())
    total_placed = sum(c[1] for c in counts.values())
    # A town-scoped caller sees its own town only, so the district figure is left out for it.
    district = rate_out(None, DISTRICT.name, total_full, total_placed) if town_code is None else None
    return {
        "on": on,
        "target": target,
        "district": district,
        "towns": towns,
        "trace": {"rule": rules.RULE, "parameters": params.trace(), "on": on.isoformat()},
    }
