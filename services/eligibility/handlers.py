"""Events this service consumes (``ServiceSpec(handlers=...)``); each runs in the unit of work
that records it in the inbox, so it takes effect once.

- ``care.referral.created`` addressed ``to`` eligibility: a care worker found a person who may
  qualify (dibao, tekun): an open ``assessment`` referral of the household for its town's
  caseworkers (R-RM-5's task list), unless one is already open.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select

from services.eligibility.monitoring.models import Referral
from services.eligibility.registry.models import Household
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
