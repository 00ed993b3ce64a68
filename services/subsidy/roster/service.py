"""Roster use cases: status and consumer lag, rebuild by replay, reads of a person's record."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Any

import structlog
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert

from services.subsidy.roster.handlers import ROSTER_EVENT_TYPES, ROSTER_STREAMS
from services.subsidy.roster.models import (
    RosterBenefit,
    RosterBenefitMember,
    RosterCareLevel,
    RosterHousehold,
    RosterPerson,
    RosterState,
)
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.events.models import InboxEvent
from shared.events.streams import stream_name

log = structlog.get_logger("subsidy.roster")

CONSUMER = "subsidy"
PROJECTION_TABLES = (
    "roster_benefit_members", "roster_benefits", "roster_care_levels", "roster_persons", "roster_households",
    "roster_placements",
)


async def consumer_lag(bus: Any) -> dict[str, int] | None:
    """Events not yet handled per roster stream (pending + in flight), or None if NATS is not
    reachable. A stream or consumer that does not exist yet counts as 0 / unknown accordingly."""
    if bus is None or not getattr(bus, "connected", False) or bus.nats is None:
        return None
    js = bus.nats.jetstream()
    lag: dict[str, int] = {}
    for service in ROSTER_STREAMS:
        try:
            info = await js.consumer_info(stream_name(service), CONSUMER)
        except Exception:  # noqa: BLE001 - no stream or consumer yet: the subscription creates it
            try:
                stream = await js.stream_info(stream_name(service))
                lag[service] = int(stream.state.messages)
            except Exception:  # noqa: BLE001 - no stream yet: nothing published
                lag[service] = 0
            continue
        lag[service] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    return lag


async def state(uow: UnitOfWork) -> RosterState | None:
    return await uow.session.get(RosterState, 1)


async def ensure_ready(*, uow: UnitOfWork, bus: Any) -> None:
    """Refuse (409 ``roster_rebuilding``) while a requested rebuild has not caught up with the
    streams; clears the flag once the replay is done."""
    current = await uow.session.get(RosterState, 1, with_for_update=True)
    if current is None or not current.rebuilding:
        return
    lag = await consumer_lag(bus)
    if lag is None or any(lag.values()):
        raise Problem(409, "roster_rebuilding", "The roster is being rebuilt from the event streams; try again shortly",
                      lag=lag)
    current.rebuilding = False
    log.info("subsidy.roster.rebuild_caught_up")


async def status(*, uow: UnitOfWork, bus: Any, today: date) -> dict[str, Any]:
    """Counts of the projection, benefits active this month by category, and the consumer lag."""
    s = uow.session
    month = today.replace(day=1)
    counts = {
        "households": await s.scalar(select(func.count()).select_from(RosterHousehold)),
        "persons": await s.scalar(select(func.count()).select_from(RosterPerson)),
        "benefits": await s.scalar(select(func.count()).select_from(RosterBenefit)),
        "care_levels": await s.scalar(select(func.count()).select_from(RosterCareLevel)),
    }
    active = (await s.execute(
        select(RosterBenefit.category, func.count())
        .where(RosterBenefit.effective_month <= month,
               (RosterBenefit.last_month.is_(None)) | (RosterBenefit.last_month >= month))
        .group_by(RosterBenefit.category)
    )).all()
    current = await s.get(RosterState, 1)
    return {
        "counts": {k: int(v or 0) for k, v in counts.items()},
        "active_benefits": {category: int(n) for category, n in active},
        "month": month,
        "lag": await consumer_lag(bus),
        "rebuilding": bool(current and current.rebuilding),
        "rebuild_requested_at": current.rebuild_requested_at if current else None,
    }


async def rebuild(*, uow: UnitOfWork, principal: Principal, bus: Any) -> None:
    """Empty the projection and replay the eligibility and care streams from their start.

    In one transaction: truncate the projection tables and forget (inbox) the roster events
    handled, so their redelivery is applied again; mark the roster as rebuilding. Then delete the
    durable consumers on those streams: the supervised subscription re-creates them with
    ``DeliverPolicy.ALL``, which replays every event still in the stream. Events handled between
    the commit and the deletion stay applied; the event-time guards make the replay converge.
    Raises 503 ``event_bus_unavailable`` when NATS is not connected (nothing is changed then).
    """
    if bus is None or not getattr(bus, "connected", False) or bus.nats is None:
        raise Problem(503, "event_bus_unavailable", "The event bus is not connected; the roster cannot be replayed now")
    await uow.session.execute(text(f"TRUNCATE {', '.join(PROJECTION_TABLES)}"))
    await uow.session.execute(delete(InboxEvent).where(
        InboxEvent.consumer == CONSUMER, InboxEvent.event_type.in_(ROSTER_EVENT_TYPES)))
    now = uow.now()
    stmt = insert(RosterState).values(id=1, rebuild_requested_at=now, rebuild_requested_by=principal.subject, rebuilding=True)
    await uow.session.execute(stmt.on_conflict_do_update(
        index_elements=[RosterState.id],
        set_={"rebuild_requested_at": now, "rebuild_requested_by": principal.subject, "rebuilding": True},
    ))
    uow.emit("subsidy.roster.rebuild_requested", {"requested_by": principal.subject}, subject="roster")
    await uow.commit()
    js = bus.nats.jetstream()
    for service in ROSTER_STREAMS:
        with contextlib.suppress(Exception):  # absent consumer: nothing to replay from yet
            await js.delete_consumer(stream_name(service), CONSUMER)
    log.info("subsidy.roster.rebuild_requested")


async def person_record(*, uow: UnitOfWork, person_id: str) -> tuple[RosterPerson | None, list[RosterBenefit], RosterCareLevel | None]:
    s = uow.session
    person = await s.get(RosterPerson, person_id)
    benefits = list((await s.scalars(
        select(RosterBenefit).join(RosterBenefitMember, RosterBenefitMember.benefit_id == RosterBenefit.benefit_id)
        .where(RosterBenefitMember.person_id == person_id).order_by(RosterBenefit.effective_month)
    )).all())
    care = await s.get(RosterCareLevel, person_id)
    return person, benefits, care
