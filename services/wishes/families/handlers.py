"""Event handlers keeping the eligibility projection (households and their benefits) up to date.

Each handler runs inside the consumer's unit of work, with the inbox row, so an event takes effect
once. State events carry the full current state and are applied only if newer than what the row
already reflects (the event's ``time``), so a late or replayed older event changes nothing.
"""

from __future__ import annotations

import structlog
from sqlalchemy import text

from services.wishes import events
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


# Fixed statements, compiled and prepared once (building the upsert per event was most of the
# handler's cost). An incoming state is applied only if newer: by revision when both have one,
# else by event time; a row already equal to it (a replay) is not rewritten.
_UPSERT_FAMILY = text("""
INSERT INTO families AS f
    (household_id, town, village, registered_poor, lonely_elderly, child_in_difficulty, revision, source_time,
     updated_at)
VALUES (:household_id, :town, :village, :registered_poor, :lonely_elderly, :child_in_difficulty, :revision,
        :source_time, :updated_at)
ON CONFLICT (household_id) DO UPDATE SET
    town = EXCLUDED.town, village = EXCLUDED.village, registered_poor = EXCLUDED.registered_poor,
    lonely_elderly = EXCLUDED.lonely_elderly, child_in_difficulty = EXCLUDED.child_in_difficulty,
    revision = EXCLUDED.revision, source_time = EXCLUDED.source_time, updated_at = EXCLUDED.updated_at
WHERE ((f.revision IS NOT NULL AND EXCLUDED.revision IS NOT NULL AND f.revision <= EXCLUDED.revision)
       OR ((f.revision IS NULL OR EXCLUDED.revision IS NULL) AND f.source_time <= EXCLUDED.source_time))
  AND (f.town, f.village, f.registered_poor, f.lonely_elderly, f.child_in_difficulty, f.revision, f.source_time)
      IS DISTINCT FROM (EXCLUDED.town, EXCLUDED.village, EXCLUDED.registered_poor, EXCLUDED.lonely_elderly,
                        EXCLUDED.child_in_difficulty, EXCLUDED.revision, EXCLUDED.source_time)
""")
_UPSERT_BENEFIT = text("""
INSERT INTO family_benefits AS b (benefit_id, household_id, category, active, source_time)
VALUES (:benefit_id, :household_id, :category, :active, :source_time)
ON CONFLICT (benefit_id) DO UPDATE SET
    household_id = EXCLUDED.household_id, category = EXCLUDED.category, active = EXCLUDED.active,
    source_time = EXCLUDED.source_time
WHERE b.source_time <= EXCLUDED.source_time
  AND (b.household_id, b.category, b.active, b.source_time)
      IS DISTINCT FROM (EXCLUDED.household_id, EXCLUDED.category, EXCLUDED.active, EXCLUDED.source_time)
""")


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
    await uow.session.execute(_UPSERT_FAMILY, values)
    log.debug("wishes.family.projected", household_id=household.household_id, event_type=event.type)


async def _benefit_state(event: CloudEvent, uow: UnitOfWork, *, active: bool) -> None:
    benefit = events.BenefitIn.model_validate(event.data)
    values = {
        "benefit_id": benefit.benefit_id,
        "household_id": benefit.household_id,
        "category": benefit.category,
        "active": active,
        "source_time": event.time,
    }
    await uow.session.execute(_UPSERT_BENEFIT, values)
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
