"""What follows, across the care domain, from a person's death or move (registry events)."""

from __future__ import annotations

from datetime import date

import structlog
from sqlalchemy import update

from services.care.devices.models import Device
from services.care.devices.service import remove_devices_of
from services.care.dispersed.models import CareContract
from services.care.dispersed.service import end_contracts_of
from services.care.leftbehind.models import LeftBehindEntry
from services.care.leftbehind.service import leave_all_of as leave_registry
from services.care.persons.models import Person
from services.care.pilots.models import Enrolment
from services.care.pilots.service import leave_all_of as leave_pilots
from services.care.placement.models import PlacementRequest
from services.care.placement.service import end_for_person, withdraw_waiting
from services.care.selfcare.models import Reassessment
from services.care.selfcare.service import cancel_reassessments
from services.care.visits.models import VisitPlan
from services.care.visits.service import end_plans_of
from shared.db import UnitOfWork

log = structlog.get_logger("care.lifecycle")


async def person_died(uow: UnitOfWork, person: Person, died_on: date) -> None:
    """A death ends everything active: placement (``care.placement.ended``) and waiting-list
    entry, reassessment, visit plans, registry entries, devices, care contracts, enrolments."""
    person.deceased_on = died_on
    await end_all(uow, person, died_on, "deceased")
    log.info("care.person.deceased", care_person_id=str(person.id))


async def end_all(uow: UnitOfWork, person: Person, on: date, reason: str) -> None:
    """End every active care record of the person on ``on`` for ``reason`` (``deceased``,
    ``moved_away``)."""
    await end_for_person(uow, person, on, "deceased" if reason == "deceased" else "moved_out")
    await cancel_reassessments(uow, person.id, on)
    await end_plans_of(uow, person.id, on, reason)
    await leave_registry(uow, person.id, on, reason)
    await remove_devices_of(uow, person.id, on)
    await end_contracts_of(uow, person.id, on)
    await leave_pilots(uow, person.id, on, "deceased" if reason == "deceased" else "moved_away")


async def tekun_ended(uow: UnitOfWork, person: Person, on: date) -> None:
    """Tekun support ended: the person leaves the waiting list and the open reassessment lapses
    (a placement stays until staff end it: the person may pay their own way)."""
    await withdraw_waiting(uow, person.id, on, "support_ended")
    await cancel_reassessments(uow, person.id, on)


async def person_moved(uow: UnitOfWork, person: Person, to_town: str | None, moved_on: date) -> None:
    """The person moved to another town: their active records follow (the new town's staff see
    them; a visit plan keeps its volunteer until re-paired). Out of the district (``to_town``
    None): their care here ends (reason ``moved_away``)."""
    if to_town is None:
        await end_all(uow, person, moved_on, "moved_away")
        log.info("care.person.left_district", care_person_id=str(person.id))
        return
    person.town = to_town
    person.village = None
    for model, active in (
        (VisitPlan, VisitPlan.status == "active"),
        (LeftBehindEntry, LeftBehindEntry.status == "active"),
        (Device, Device.status == "active"),
        (CareContract, CareContract.status == "active"),
        (Enrolment, Enrolment.status == "active"),
        (Reassessment, Reassessment.status == "open"),
        (PlacementRequest, PlacementRequest.status == "waiting"),
    ):
        await uow.session.execute(
            update(model).where(model.person_id == person.id, active).values(town=to_town)  # type: ignore[attr-defined]
        )
    log.info("care.person.moved", care_person_id=str(person.id), town=to_town)
