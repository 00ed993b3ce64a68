"""Event handlers keeping the eligibility projection (households and their benefits) up to date.

Each handler runs inside the consumer's unit of work, with the inbox row, so an event takes effect
once. State events carry the full current state and are applied only if newer than what the row
already reflects (the event's ``time``), so a late or replayed older event changes nothing.
"""

from __future__ import annotations

import structlog
from sqlalchemy import and_, or_
from sqlalchemy.dialects.postgresql import insert

from services.wishes import events
from services.wishes.families.models import Family, FamilyBenefit
from shared.db import UnitOfWork
from shared.events.consumer import EventHandlers
from shared.events.envelope import CloudEvent

log = structlog.get_logger("wishes.families")

handlers = EventHandlers()


def _child_in_difficulty(household: events.HouseholdIn) -> bool:
    """困境儿童: a living member who is an orphan or a child without de-facto care (R-MW-1)."""
    return any(
        m.deceased_on is None and m.status == "active" and (m.orphan is not None or m.child_without_care)
        for m in household.members
    )


def _newer(current, incoming):  # noqa: ANN001, ANN202 - table and EXCLUDED columns
    """The incoming state is newer: by revision when both have one, else by event time."""
    return or_(
        and_(current.revision.is_not(None), incoming.revision.is_not(None), current.revision <= incoming.revision),
        and_(or_(current.revision.is_(None), incoming.revision.is_(None)), current.source_time <= incoming.source_time),
    )


@handlers.on(events.HOUSEHOLD_REGISTERED)
@handlers.on(events.HOUSEHOLD_CHANGED)
async def household_state(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.household.registered`` / ``changed``: upsert the household's projection."""
    household = events.HouseholdIn.model_validate(event.data)
    values = {
        "household_id": household.household_id,
        "town": household.town,
        "village": household.village,
        "registered_poor": household.registered_poor,
        "lonely_elderly": household.lonely_elderly,
        "child_in_difficulty": _child_in_difficulty(household),
        "revision": household.revision,
        "source_time": event.time,
        "updated_at": uow.now(),
    }
    statement = insert(Family).values(**values)
    await uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=[Family.household_id],
            set_={k: statement.excluded[k] for k in values if k != "household_id"},
            where=_newer(Family, statement.excluded),
        )
    )
    log.info("wishes.family.projected", household_id=household.household_id, event_type=event.type)


async def _benefit_state(event: CloudEvent, uow: UnitOfWork, *, active: bool) -> None:
    benefit = events.BenefitIn.model_validate(event.data)
    values = {
        "benefit_id": benefit.benefit_id,
        "household_id": benefit.household_id,
        "category": benefit.category,
        "active": active,
        "source_time": event.time,
    }
    statement = insert(FamilyBenefit).values(**values)
    await uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=[FamilyBenefit.benefit_id],
            set_={k: statement.excluded[k] for k in values if k != "benefit_id"},
            where=FamilyBenefit.source_time <= statement.excluded.source_time,
        )
    )
    log.info("wishes.benefit.projected", benefit_id=benefit.benefit_id, active=active, category=benefit.category)


@handlers.on(events.BENEFIT_GRANTED)
async def benefit_granted(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.benefit.granted``: the household now has this benefit (dibao, tekun …)."""
    await _benefit_state(event, uow, active=True)


@handlers.on(events.BENEFIT_CHANGED)
async def benefit_changed(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.benefit.changed``: still granted (the amount changed)."""
    await _benefit_state(event, uow, active=True)


@handlers.on(events.BENEFIT_ENDED)
async def benefit_ended(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.benefit.ended``: the household no longer has this benefit."""
    await _benefit_state(event, uow, active=False)
