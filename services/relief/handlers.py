"""Events the relief service consumes: eligibility's registry facts and referrals.

- ``eligibility.household.registered`` / ``.changed`` → the registered households and persons a
  case may name as applicant;
- ``eligibility.person.deceased`` / ``.moved`` → keep that projection current;
- ``eligibility.referral.created`` with ``kind`` ``expenditure_relief`` (R-RM-5) → a suggested
  expenditure-type case for a caseworker to accept.

(``gateway.calendar.year_loaded`` is handled by shared.app, which calls
:func:`services.relief.cases.service.recompute_for_year`.)
"""

from __future__ import annotations

import structlog

from services.relief.cases import service as cases
from services.relief.registry import service as registry
from shared.db import UnitOfWork
from shared.events.consumer import EventHandlers
from shared.events.envelope import CloudEvent

log = structlog.get_logger("relief.handlers")

handlers = EventHandlers()


@handlers.on("eligibility.household.registered")
async def household_registered(event: CloudEvent, *, uow: UnitOfWork) -> None:
    await registry.apply_household(uow.session, event.data, event.time)


@handlers.on("eligibility.household.changed")
async def household_changed(event: CloudEvent, *, uow: UnitOfWork) -> None:
    applied = await registry.apply_household(uow.session, event.data, event.time)
    if not applied:
        log.info("relief.registry.stale_event_ignored", event_id=event.id)


@handlers.on("eligibility.person.deceased")
async def person_deceased(event: CloudEvent, *, uow: UnitOfWork) -> None:
    await registry.apply_deceased(uow.session, event.data)


@handlers.on("eligibility.person.moved")
async def person_moved(event: CloudEvent, *, uow: UnitOfWork) -> None:
    await registry.apply_moved(uow.session, event.data)


@handlers.on("eligibility.referral.created")
async def referral_created(event: CloudEvent, *, uow: UnitOfWork) -> None:
    if event.data.get("kind") != "expenditure_relief":
        return
    await cases.open_suggested_case(uow=uow, data=event.data)
