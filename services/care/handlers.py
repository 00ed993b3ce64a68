"""Event subscriptions of the care service: the registry's facts about persons (eligibility).

- ``eligibility.household.registered`` / ``changed``: persons' details (name, ID number, birth
  date, disability, left-behind flag, death); a tekun person whose disability changed gets a
  self-care reassessment (R-TK-1).
- ``eligibility.benefit.granted`` / ``ended`` with category ``tekun``: who is tekun (特困人员).
- ``eligibility.person.deceased``, ``eligibility.person.moved``.
Each handler runs in the consumer's unit of work (inbox de-duplication, commit by the consumer).
"""

from __future__ import annotations

from datetime import date

import structlog
from sqlalchemy import select

from services.care import lifecycle
from services.care.common import today
from services.care.persons.models import Person
from services.care.persons.registry import project_household
from services.care.persons.service import end_tekun, mark_tekun
from services.care.selfcare.service import open_reassessment
from shared.db import UnitOfWork
from shared.events.consumer import EventHandlers
from shared.events.envelope import CloudEvent
from shared.regions import is_town

log = structlog.get_logger("care.handlers")
handlers = EventHandlers()

TEKUN = "tekun"


async def _household(event: CloudEvent, *, uow: UnitOfWork) -> None:
    # The members are projected in bulk; only the rare ones with consequences become ORM objects.
    for follow_up in await project_household(uow, event.data):
        person = await uow.session.get(Person, follow_up.person_id, populate_existing=True)
        if follow_up.died_on is not None:
            await lifecycle.person_died(uow, person, follow_up.died_on)
            continue
        await open_reassessment(
            uow, person, reported_on=today(uow), source="registry",
            description="disability or long-term care changed in the registry", created_by="system",
        )


@handlers.on("eligibility.household.registered")
async def household_registered(event: CloudEvent, *, uow: UnitOfWork) -> None:
    await _household(event, uow=uow)


@handlers.on("eligibility.household.changed")
async def household_changed(event: CloudEvent, *, uow: UnitOfWork) -> None:
    await _household(event, uow=uow)


@handlers.on("eligibility.benefit.granted")
async def benefit_granted(event: CloudEvent, *, uow: UnitOfWork) -> None:
    if event.data.get("category") != TEKUN:
        return
    persons = await mark_tekun(uow, event.data)
    log.info("care.tekun.granted", count=len(persons))


@handlers.on("eligibility.benefit.ended")
async def benefit_ended(event: CloudEvent, *, uow: UnitOfWork) -> None:
    if event.data.get("category") != TEKUN:
        return
    for person in await end_tekun(uow, event.data):
        await lifecycle.tekun_ended(uow, person, today(uow))


@handlers.on("eligibility.person.deceased")
async def person_deceased(event: CloudEvent, *, uow: UnitOfWork) -> None:
    data = event.data
    person = await uow.session.scalar(
        select(Person).where(Person.eligibility_person_id == str(data["person_id"])).with_for_update()
    )
    if person is None or person.deceased_on is not None:
        return
    await lifecycle.person_died(uow, person, date.fromisoformat(data["died_on"]))


@handlers.on("eligibility.person.moved")
async def person_moved(event: CloudEvent, *, uow: UnitOfWork) -> None:
    data = event.data
    to_town = data.get("to_town")
    if to_town is not None and not is_town(to_town):
        return
    person = await uow.session.scalar(
        select(Person).where(Person.eligibility_person_id == str(data["person_id"])).with_for_update()
    )
    if person is None or person.deceased_on is not None:
        return
    if to_town is not None and to_town == person.town:
        if data.get("to_household_id"):
            person.household_id = str(data["to_household_id"])
        return
    moved_on = date.fromisoformat(data["moved_on"]) if data.get("moved_on") else today(uow)
    if data.get("to_household_id"):
        person.household_id = str(data["to_household_id"])
    await lifecycle.person_moved(uow, person, to_town, moved_on)
