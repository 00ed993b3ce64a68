"""Use cases of the care pilots (R-LB-4): programmes, enrolment, service records."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select, update

from services.care.common import check_village_in_town, ensure_not_future, today
from services.care.persons.service import ensure_alive, ensure_record_visible, visible_person
from services.care.pilots import rules
from services.care.pilots.models import Enrolment, Programme, ServiceRecord
from services.care.pilots.schemas import ProgrammeIn
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem, not_found


async def create_programme(*, uow: UnitOfWork, data: ProgrammeIn) -> Programme:
    """A pilot programme. 409 ``programme_exists``; 422 ``village_not_in_town``,
    ``ends_before_start``, ``village_without_town``."""
    if data.village is not None and data.town is None:
        raise Problem(422, "village_without_town", "Give the town of the village")
    if data.town is not None:
        check_village_in_town(data.town, data.village)
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise Problem(422, "ends_before_start", "ends_on is before starts_on")
    if await uow.session.scalar(select(Programme.id).where(Programme.code == data.code)) is not None:
        raise Problem(409, "programme_exists", "A programme with this code exists")
    programme = Programme(**data.model_dump())
    uow.session.add(programme)
    await uow.session.flush()
    return programme


async def get_programme(uow: UnitOfWork, programme_id: uuid.UUID) -> Programme:
    programme = await uow.session.get(Programme, programme_id)
    if programme is None:
        raise not_found("programme")
    return programme


async def enrolled_counts(uow: UnitOfWork) -> dict[uuid.UUID, int]:
    rows = await uow.session.execute(
        select(Enrolment.programme_id, func.count()).where(Enrolment.status == "active").group_by(Enrolment.programme_id)
    )
    return dict(rows.all())


async def enrol(
    *, uow: UnitOfWork, principal: Principal, programme_id: uuid.UUID, person_id: uuid.UUID, enrolled_on: date | None
) -> Enrolment:
    """Enrol a person in a pilot (R-LB-4). 422 ``not_eligible`` (``failures``: ``outside_area``,
    ``not_severely_disabled``, ``not_in_registry``, ``not_mental_disorder``), ``future_date``,
    ``outside_programme_term``; 409 ``already_enrolled``, ``person_deceased``."""
    programme = await get_programme(uow, programme_id)
    person = await visible_person(uow, principal, person_id, for_update=True)
    ensure_alive(person)
    on = enrolled_on or today(uow)
    ensure_not_future(on, today(uow), "enrolled_on")
    if on < programme.starts_on or (programme.ends_on is not None and on > programme.ends_on):
        raise Problem(422, "outside_programme_term", "The programme does not run on that date")
    failures = rules.enrolment_failures(
        programme.kind,
        rules.EnrolmentFacts(
            disability_grade=person.disability_grade, disability_kind=person.disability_kind,
            in_registry=person.eligibility_person_id is not None, town=person.town, village=person.village,
        ),
        area_town=programme.town, area_village=programme.village,
    )
    if failures:
        raise Problem(
            422, "not_eligible", "The person does not fit the programme",
            errors=[{"field": "person_id", "code": f, "message": f.replace("_", " ")} for f in failures], failures=failures,
        )
    if await uow.session.scalar(
        select(Enrolment.id).where(Enrolment.programme_id == programme.id, Enrolment.person_id == person.id, Enrolment.status == "active")
    ) is not None:
        raise Problem(409, "already_enrolled", "The person is already enrolled")
    enrolment = Enrolment(
        programme_id=programme.id, person_id=person.id, town=person.town, enrolled_on=on, status="active",
        created_by=principal.subject, created_at=uow.now(),
    )
    uow.session.add(enrolment)
    await uow.session.flush()
    return enrolment


async def visible_enrolment(uow: UnitOfWork, principal: Principal, enrolment_id: uuid.UUID, *, for_update: bool = False) -> Enrolment:
    """The enrolment if ``principal`` may see it (its town's staff; a village officer, its
    village's persons'), else 404 (R-DB-7)."""
    enrolment = await uow.session.get(Enrolment, enrolment_id, with_for_update=for_update)
    if enrolment is None:
        raise not_found("enrolment")
    await ensure_record_visible(uow, principal, enrolment.town, enrolment.person_id, "enrolment")
    return enrolment


async def leave(*, uow: UnitOfWork, principal: Principal, enrolment_id: uuid.UUID, left_on: date, reason: str) -> Enrolment:
    """End an enrolment. 409 ``enrolment_ended``; 422 ``future_date``, ``left_before_enrolment``."""
    enrolment = await visible_enrolment(uow, principal, enrolment_id, for_update=True)
    if enrolment.status != "active":
        raise Problem(409, "enrolment_ended", "The enrolment has ended")
    ensure_not_future(left_on, today(uow), "left_on")
    if left_on < enrolment.enrolled_on:
        raise Problem(422, "left_before_enrolment", "left_on is before the enrolment")
    enrolment.status, enrolment.left_on, enrolment.left_reason = "left", left_on, reason
    return enrolment


async def leave_all_of(uow: UnitOfWork, person_id: uuid.UUID, on: date, reason: str) -> None:
    await uow.session.execute(
        update(Enrolment).where(Enrolment.person_id == person_id, Enrolment.status == "active")
        .values(status="left", left_on=on, left_reason=reason)
    )


async def record_service(
    *, uow: UnitOfWork, principal: Principal, enrolment_id: uuid.UUID, served_on: date, service_type: str, minutes: int,
    provider: str, note: str | None,
) -> ServiceRecord:
    """A service given to an enrolled person. 422 ``future_date``, ``outside_enrolment``."""
    enrolment = await visible_enrolment(uow, principal, enrolment_id)
    ensure_not_future(served_on, today(uow), "served_on")
    if served_on < enrolment.enrolled_on or (enrolment.left_on is not None and served_on > enrolment.left_on):
        raise Problem(422, "outside_enrolment", "served_on is outside the enrolment")
    record = ServiceRecord(
        enrolment_id=enrolment.id, served_on=served_on, service_type=service_type, minutes=minutes, provider=provider,
        note=note, recorded_by=principal.subject, recorded_at=uow.now(),
    )
    uow.session.add(record)
    await uow.session.flush()
    return record
