"""Events this service consumes (``ServiceSpec(handlers=...)``); each runs in the unit of work
that records it in the inbox, so it takes effect once.

- ``care.referral.created`` addressed ``to`` eligibility: a care worker found a person who may
  qualify (dibao, tekun): an open ``assessment`` referral of the household for its town's
  caseworkers (R-RM-5's task list), unless one is already open.
- ``care.selfcare.assessed``: a tekun person's self-care level (R-TK-2), assessed by care —
  after a reported change of ability within 10 working days (R-TK-1, care tracks that deadline
  and emits ``care.reassessment.overdue``). Recorded on the person (with the household's
  history) and shown on the person's later tekun decisions' traces; an older assessment than
  the one recorded is ignored. The level does not change tekun eligibility (R-TK-1's grounds),
  only the care tier subsidy pays.
"""

from __future__ import annotations

import uuid
from datetime import date

import structlog
from sqlalchemy import select

from services.eligibility.monitoring.models import Referral
from services.eligibility.registry.models import Household, Person
from services.eligibility.registry.service import Actor, record_change
from shared.db import UnitOfWork
from shared.events.consumer import EventHandlers
from shared.events.envelope import CloudEvent

log = structlog.get_logger("eligibility.handlers")
handlers = EventHandlers()


@handlers.on("care.referral.created")
async def care_referral(event: CloudEvent, *, uow: UnitOfWork) -> None:
    data = event.data
    if data.get("to") != "eligibility":
        return
    try:
        household_id = uuid.UUID(str(data.get("household_id")))
    except ValueError:
        log.warning("eligibility.care_referral.no_household", event_id=event.id)
        return
    household = await uow.session.get(Household, household_id)
    if household is None:
        log.warning("eligibility.care_referral.unknown_household", event_id=event.id)
        return
    already = await uow.session.scalar(
        select(Referral.id).where(Referral.household_id == household.id, Referral.kind == "assessment", Referral.status == "open")
    )
    if already is not None:
        return
    uow.session.add(Referral(
        id=uuid.uuid4(), household_id=household.id, town=household.town, kind="assessment",
        reasons=[str(data.get("reason") or "care_referral")], suggested_amount=None, risk_assessment_id=None,
        source="care", source_ref=str(data.get("referral_id") or event.id)[:64], status="open", created_at=uow.now(),
    ))
    log.info("eligibility.care_referral.recorded", household_id=str(household.id))


SELF_CARE_LEVELS = ("self_care", "partial_loss", "full_loss")


@handlers.on("care.selfcare.assessed")
async def selfcare_assessed(event: CloudEvent, *, uow: UnitOfWork) -> None:
    data = event.data
    try:
        person_id = uuid.UUID(str(data.get("person_id")))
        assessed_on = date.fromisoformat(str(data.get("assessed_on")))
    except ValueError:
        log.warning("eligibility.selfcare.unreadable", event_id=event.id)
        return
    level = data.get("level")
    if level not in SELF_CARE_LEVELS:
        log.warning("eligibility.selfcare.unknown_level", event_id=event.id)
        return
    person = await uow.session.get(Person, person_id, with_for_update=True)
    if person is None:
        log.warning("eligibility.selfcare.unknown_person", event_id=event.id)
        return
    if person.self_care_assessed_on is not None and assessed_on < person.self_care_assessed_on:
        log.info("eligibility.selfcare.older_ignored", person_id=str(person.id))
        return
    before = person.self_care_level
    person.self_care_level, person.self_care_assessed_on = level, assessed_on
    person.self_care_assessment_id = str(data.get("assessment_id") or event.id)[:64]
    record_change(uow, Actor("care", "care.selfcare.assessed"), person.household_id, "self_care_assessed",
                  {"self_care_level": [before, level], "assessed_on": assessed_on, "reason": data.get("reason"),
                   "assessment_id": person.self_care_assessment_id, "rule": "R-TK-2"}, person_id=person.id)
    log.info("eligibility.selfcare.recorded", person_id=str(person.id), level=level)
