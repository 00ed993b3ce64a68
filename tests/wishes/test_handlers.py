"""The eligibility projection's event handlers against a real database: benefits, revisions and
members decide a family's types (R-MW-1). The handlers are called as the consumer calls them
(a CloudEvent and a unit of work); the bus itself is tested in tests/shared/events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from services.wishes import events
from services.wishes.families import handlers
from services.wishes.families.service import known_family
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.events.envelope import new_event
from shared.migrations import upgrade

T0 = datetime(2020, 6, 15, 1, 0, tzinfo=UTC)
TOWN, VILLAGE = "350505100", "350505100002"


class Db:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, pool_size=2)
        self.sessions = make_sessionmaker(self.engine)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, source="/services/wishes", clock=ControllableClock(T0))


@pytest.fixture(scope="module")
async def db(databases) -> AsyncIterator[Db]:
    url = await databases.create("wishes_handlers")
    await asyncio.to_thread(upgrade, "wishes", url)
    database = Db(url)
    yield database
    await database.engine.dispose()


def member(**extra: Any) -> dict[str, Any]:
    return {"person_id": str(uuid.uuid4()), "name": "林秀英", "id_number": "350505195003010124", "relation": "head",
            "orphan": None, "child_without_care": False, "deceased_on": None, "status": "active", **extra}


async def deliver(db: Db, event_type: str, data: dict[str, Any], *, at: datetime = T0) -> None:
    event = new_event(event_type, data, source="/services/eligibility", time=at, subject=data.get("household_id"))
    handler = handlers.handlers.get(event_type)
    assert handler is not None
    async with db.uow() as uow:
        await handler(event, uow=uow)
        await uow.commit()


async def types_of(db: Db, household_id: str) -> tuple[str, ...] | None:
    async with db.uow() as uow:
        family = await known_family(uow.session, household_id)
    return None if family is None else family.family_types


def household(household_id: str, **extra: Any) -> dict[str, Any]:
    return {"household_id": household_id, "town": TOWN, "village": VILLAGE, "registered_poor": False,
            "ex_poor": False, "edge": False, "lonely_elderly": False, "members": [member()], "revision": 1, **extra}


async def test_benefits_make_dibao_and_tekun_families(db: Db) -> None:
    household_id = str(uuid.uuid4())
    await deliver(db, events.HOUSEHOLD_REGISTERED, household(household_id))
    assert await types_of(db, household_id) == ()
    dibao, tekun = str(uuid.uuid4()), str(uuid.uuid4())
    grant = {"household_id": household_id, "person_id": str(uuid.uuid4()), "monthly_amount": "720.00",
             "effective_month": "2020-06", "town": TOWN, "village": VILLAGE}
    await deliver(db, events.BENEFIT_GRANTED, grant | {"benefit_id": dibao, "category": "dibao_single_person"})
    assert await types_of(db, household_id) == ("dibao",)
    await deliver(db, events.BENEFIT_GRANTED, grant | {"benefit_id": tekun, "category": "tekun"})
    assert await types_of(db, household_id) == ("tekun", "dibao")
    await deliver(db, events.BENEFIT_CHANGED, grant | {"benefit_id": dibao, "category": "dibao_single_person",
                                                        "previous_amount": "700.00"})
    await deliver(db, events.BENEFIT_ENDED, {"benefit_id": dibao, "household_id": household_id, "person_id": "p",
                                             "category": "dibao_single_person", "last_month": "2020-07",
                                             "reason": "income_above_standard"}, at=T0 + timedelta(days=40))
    assert await types_of(db, household_id) == ("tekun",)


async def test_a_late_older_state_changes_nothing(db: Db) -> None:
    household_id = str(uuid.uuid4())
    await deliver(db, events.HOUSEHOLD_REGISTERED, household(household_id, lonely_elderly=True))
    await deliver(db, events.HOUSEHOLD_CHANGED, household(household_id, revision=3, registered_poor=True))
    await deliver(db, events.HOUSEHOLD_CHANGED, household(household_id, revision=2, lonely_elderly=True))
    assert await types_of(db, household_id) == ("registered_poor",)
    # Without revisions the event time decides.
    other = str(uuid.uuid4())
    await deliver(db, events.HOUSEHOLD_REGISTERED, household(other, revision=None, lonely_elderly=True),
                  at=T0 + timedelta(hours=2))
    await deliver(db, events.HOUSEHOLD_CHANGED, household(other, revision=None), at=T0 + timedelta(hours=1))
    assert await types_of(db, other) == ("lonely_elderly",)


async def test_children_in_difficulty_are_living_orphans_or_children_without_care(db: Db) -> None:
    cases = [
        ([member(), member(relation="grandchild", orphan="dispersed")], ("child_in_difficulty",)),
        ([member(), member(relation="child", child_without_care=True)], ("child_in_difficulty",)),
        ([member(), member(relation="child", orphan="institutional", deceased_on="2020-05-01",
                           status="deceased")], ()),
        ([member(), member(relation="child", child_without_care=True, status="moved_away")], ()),
    ]
    for members, expected in cases:
        household_id = str(uuid.uuid4())
        await deliver(db, events.HOUSEHOLD_REGISTERED, household(household_id, members=members))
        assert await types_of(db, household_id) == expected


async def test_no_personal_data_is_kept(db: Db) -> None:
    household_id = str(uuid.uuid4())
    await deliver(db, events.HOUSEHOLD_REGISTERED, household(household_id, registered_poor=True))
    async with db.uow() as uow:
        row = await uow.session.scalar(
            text("SELECT row_to_json(f)::text FROM families f WHERE household_id = :id"), {"id": household_id})
    assert row is not None and household_id in row
    assert "林秀英" not in row and "350505195003010124" not in row


async def family_row(db: Db, household_id: str) -> dict[str, Any]:
    async with db.uow() as uow:
        row = (await uow.session.execute(
            text("SELECT xmin::text AS version, revision, source_time, updated_at FROM families "
                 "WHERE household_id = :id"),
            {"id": household_id})).mappings().one()
    return dict(row)


async def test_a_replayed_state_rewrites_nothing_but_a_newer_equal_one_advances_the_revision(db: Db) -> None:
    household_id = str(uuid.uuid4())
    await deliver(db, events.HOUSEHOLD_REGISTERED, household(household_id, lonely_elderly=True))
    stored = await family_row(db, household_id)
    await deliver(db, events.HOUSEHOLD_REGISTERED, household(household_id, lonely_elderly=True))
    assert await family_row(db, household_id) == stored
    # Revision 3 with the same flags is still recorded, so a late revision 2 changes nothing.
    await deliver(db, events.HOUSEHOLD_CHANGED, household(household_id, revision=3, lonely_elderly=True),
                  at=T0 + timedelta(hours=2))
    assert (await family_row(db, household_id))["revision"] == 3
    await deliver(db, events.HOUSEHOLD_CHANGED, household(household_id, revision=2, registered_poor=True),
                  at=T0 + timedelta(hours=1))
    assert await types_of(db, household_id) == ("lonely_elderly",)


async def test_an_older_benefit_event_changes_nothing(db: Db) -> None:
    household_id, benefit_id = str(uuid.uuid4()), str(uuid.uuid4())
    await deliver(db, events.HOUSEHOLD_REGISTERED, household(household_id))
    ended = {"benefit_id": benefit_id, "household_id": household_id, "category": "tekun"}
    await deliver(db, events.BENEFIT_ENDED, ended, at=T0 + timedelta(days=40))
    await deliver(db, events.BENEFIT_GRANTED, ended, at=T0)
    assert await types_of(db, household_id) == ()
    await deliver(db, events.BENEFIT_GRANTED, ended, at=T0 + timedelta(days=41))
    assert await types_of(db, household_id) == ("tekun",)
