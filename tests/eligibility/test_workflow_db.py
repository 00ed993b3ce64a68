"""Deadline warnings and the self-care handler on a real PostgreSQL: a warning is sent once per
step deadline even with two sweeps racing (FOR UPDATE SKIP LOCKED and a fired-once marker), never
for a step done or a deadline already passed; the warning instant in working days; the
``care.selfcare.assessed`` handler keeps the latest assessment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from services.eligibility.handlers import selfcare_assessed
from services.eligibility.registry.models import Household, HouseholdChange, Person
from services.eligibility.workflow import rules
from services.eligibility.workflow.models import Application, ApplicationDeadline
from services.eligibility.workflow.service import fire_at_risk_deadlines, fire_breached_deadlines
from shared.calendar import TZ, WorkingDayCalendar
from shared.clock import ControllableClock
from shared.db import UnitOfWork
from shared.events.envelope import new_event
from shared.events.models import OutboxEvent
from tests.eligibility.conftest import migrated_sessions, new_id_number


@pytest.fixture(scope="module")
async def sessions(databases):  # noqa: ANN001
    async with migrated_sessions(databases, "elig_workflow", pool_size=4) as sessions:
        yield sessions


def factory(sessions, moment: datetime):  # noqa: ANN001, ANN201
    clock = ControllableClock()
    clock.set(moment)
    return lambda _correlation=None: UnitOfWork(sessions, source="/services/eligibility", clock=clock)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


async def _deadlines(sessions, specs: list[tuple[str, datetime, datetime, datetime | None]]) -> list[int]:  # noqa: ANN001
    """One application with a deadline per (step, at_risk_at, due_at, met_at)."""
    now = datetime(2020, 6, 15, 1, tzinfo=UTC)
    async with factory(sessions, now)() as uow:
        household = Household(id=uuid.uuid4(), town="350505100", village="350505100001", address="x", registered_poor=False,
                              ex_poor=False, edge=False, lonely_elderly=False, irregular_income=False, department_data=False,
                              status="active", revision=1, created_at=now, updated_at=now)
        uow.session.add(household)
        await uow.session.flush()
        application = Application(id=uuid.uuid4(), household_id=household.id, town="350505100", category="dibao", status="accepted",
                                  accepted_at=now, accepted_by="test", extended=False, steps=[], updated_at=now)
        uow.session.add(application)
        await uow.session.flush()
        rows = [ApplicationDeadline(application_id=application.id, step=step, working_days=3, starts_on=date(2020, 6, 15),
                                    due_date=(due - timedelta(days=1)).astimezone(TZ).date(), due_at=due, provisional=False,
                                    at_risk_at=at_risk, met_at=met)
                for step, at_risk, due, met in specs]
        uow.session.add_all(rows)
        await uow.commit()
        return [r.id for r in rows]


async def test_a_warning_is_sent_once_per_step_even_when_sweeps_race(sessions) -> None:  # noqa: ANN001
    due = local("2020-06-19T00:00:00")
    ids = await _deadlines(sessions, [
        ("investigation_start", local("2020-06-18T00:00:00"), due, None),   # warned
        ("process", local("2020-06-18T00:00:00"), due, local("2020-06-16T10:00:00")),  # done: never warned
        ("decision", local("2020-06-19T00:00:00"), local("2020-06-20T00:00:00"), None),  # not yet
    ])
    too_early = factory(sessions, local("2020-06-17T23:59:59"))
    assert await fire_at_risk_deadlines(too_early) == 0
    moment = factory(sessions, local("2020-06-18T09:00:00"))
    counts = await asyncio.gather(fire_at_risk_deadlines(moment), fire_at_risk_deadlines(moment), fire_at_risk_deadlines(moment))
    assert sum(counts) == 1
    assert await fire_at_risk_deadlines(factory(sessions, local("2020-06-18T18:00:00"))) == 0
    async with sessions() as session:
        rows = {r.id: r for r in (await session.scalars(select(ApplicationDeadline).where(ApplicationDeadline.id.in_(ids)))).all()}
        outbox = (await session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "eligibility.application.deadline_at_risk"))).all()
    assert rows[ids[0]].at_risk_fired_at == local("2020-06-18T09:00:00")
    assert rows[ids[1]].at_risk_fired_at is None and rows[ids[2]].at_risk_fired_at is None
    [event] = [o for o in outbox if o.envelope["data"]["step"] == "investigation_start"
               and o.envelope["data"]["application_id"] == str(rows[ids[0]].application_id)]
    assert (event.envelope["data"]["due_date"], event.envelope["data"]["at_risk_at"]) == ("2020-06-18", "2020-06-18T00:00:00+08:00")


async def test_no_warning_once_the_deadline_has_passed(sessions) -> None:  # noqa: ANN001
    [missed] = await _deadlines(sessions, [("refusal_notice", local("2020-07-01T00:00:00"), local("2020-07-02T00:00:00"), None)])
    after = factory(sessions, local("2020-07-03T09:00:00"))  # the service was down through the warning and the deadline
    assert await fire_breached_deadlines(after) >= 1
    assert await fire_at_risk_deadlines(after) == 0
    async with sessions() as session:
        row = await session.get(ApplicationDeadline, missed)
    assert row is not None and row.breached_at is not None and row.at_risk_fired_at is None


def test_the_warning_instant_is_one_working_day_before_the_deadline() -> None:
    calendar = WorkingDayCalendar()
    # Friday 2020-06-19 + 3 working days (22, 23, 24) = Wednesday 24 June; warned at 24:00 of Tuesday 23 June.
    assert rules.step_deadline(date(2020, 6, 19), 3, calendar).deadline_date == date(2020, 6, 24)
    assert rules.warning_instant(date(2020, 6, 19), 3, 1, calendar) == local("2020-06-24T00:00:00")
    # 10 working days from Monday 22 June over the Dragon Boat holiday (25-27 June off, Sunday 28 worked).
    assert rules.step_deadline(date(2020, 6, 22), 10, calendar).deadline_date == date(2020, 7, 7)
    assert rules.warning_instant(date(2020, 6, 22), 10, 1, calendar) == local("2020-07-07T00:00:00")
    # A one-day term is at risk from its start.
    assert rules.warning_instant(date(2020, 6, 22), 1, 1, calendar) == rules.start_instant(date(2020, 6, 22))


async def test_the_selfcare_handler_keeps_the_latest_assessment(sessions) -> None:  # noqa: ANN001
    now = datetime(2020, 6, 15, 1, tzinfo=UTC)
    make = factory(sessions, now)
    async with make() as uow:
        household = Household(id=uuid.uuid4(), town="350505100", village="350505100001", address="x", registered_poor=False,
                              ex_poor=False, edge=False, lonely_elderly=False, irregular_income=False, department_data=False,
                              status="active", revision=1, created_at=now, updated_at=now)
        uow.session.add(household)
        await uow.session.flush()
        person = Person(id=uuid.uuid4(), household_id=household.id, id_number=new_id_number(date(1950, 3, 1)),
                        name="林某", sex="male", birth_date=date(1950, 3, 1), relation="head", created_at=now, updated_at=now)
        uow.session.add(person)
        await uow.commit()

    async def deliver(data: dict) -> None:
        event = new_event("care.selfcare.assessed", {"person_id": str(person.id), "household_id": str(household.id), "town": "350505100",
                                                      "care_person_id": str(uuid.uuid4()), "rule": "R-TK-2", **data},
                          source="/services/care", time=now)
        async with make() as uow:
            await selfcare_assessed(event, uow=uow)
            await uow.commit()

    await deliver({"assessment_id": "a1", "level": "partial_loss", "previous_level": None, "assessed_on": "2020-06-10", "reason": "initial"})
    await deliver({"assessment_id": "a2", "level": "full_loss", "previous_level": "partial_loss", "assessed_on": "2020-06-12", "reason": "reassessment"})
    await deliver({"assessment_id": "a0", "level": "self_care", "previous_level": None, "assessed_on": "2020-06-01", "reason": "review"})  # older: ignored
    await deliver({"assessment_id": "ax", "level": "bedridden", "assessed_on": "2020-06-13"})  # unknown level: ignored
    event = new_event("care.selfcare.assessed", {"person_id": str(uuid.uuid4()), "level": "full_loss", "assessed_on": "2020-06-13"},
                      source="/services/care", time=now)
    async with make() as uow:  # unknown person: nothing happens
        await selfcare_assessed(event, uow=uow)
        await uow.commit()
    async with sessions() as session:
        stored = await session.get(Person, person.id)
        history = (await session.scalars(select(HouseholdChange).where(HouseholdChange.household_id == household.id).order_by(HouseholdChange.id))).all()
    assert stored is not None
    assert (stored.self_care_level, stored.self_care_assessed_on, stored.self_care_assessment_id) == ("full_loss", date(2020, 6, 12), "a2")
    assert [(h.action, h.actor, h.changes["self_care_level"]) for h in history] == [
        ("self_care_assessed", "care", [None, "partial_loss"]), ("self_care_assessed", "care", ["partial_loss", "full_loss"])]
