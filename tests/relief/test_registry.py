"""The registry projection (``eligibility.household.registered/changed``) on a migrated database:
event-time ordering, members leaving and joining, and rows equal to the event left unwritten."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from services.relief.registry.service import apply_deceased, apply_household
from tests.relief.conftest import ReliefDb

TOWN, OTHER_TOWN = "350505101", "350505102"
T1 = datetime.fromisoformat("2020-06-01T08:00:00+08:00")
T2 = datetime.fromisoformat("2020-06-02T08:00:00+08:00")
T0 = datetime.fromisoformat("2020-05-31T08:00:00+08:00")


def member(person_id: str, **extra: Any) -> dict[str, Any]:
    return {"person_id": person_id, "name": "王某", "id_number": "350505196005010021", "sex": "female",
            "birth_date": "1960-05-01", "relation": "head", "deceased_on": None, "status": "active", **extra}


def household(household_id: str, members: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"household_id": household_id, "town": TOWN, "village": None, "registered_poor": False, "ex_poor": False,
            "edge": False, "lonely_elderly": False, "members": members, **extra}


async def apply(db: ReliefDb, data: dict[str, Any], at: datetime) -> bool:
    async with db.uow() as uow:
        applied = await apply_household(uow.session, data, at)
        await uow.commit()
    return applied


async def household_row(db: ReliefDb, household_id: str) -> dict[str, Any] | None:
    async with db.sessions() as session:
        row = (await session.execute(text(
            "SELECT xmin::text AS version, town, edge, source_time FROM registered_households WHERE household_id = :h"),
            {"h": household_id})).mappings().one_or_none()
    return None if row is None else dict(row)


async def person_rows(db: ReliefDb, household_id: str) -> dict[str, dict[str, Any]]:
    async with db.sessions() as session:
        rows = (await session.execute(text(
            "SELECT xmin::text AS version, person_id, town, name, birth_date, relation, deceased_on, status, "
            "source_time FROM registered_persons WHERE household_id = :h"), {"h": household_id})).mappings().all()
    return {row["person_id"]: dict(row) for row in rows}


def ids() -> tuple[str, str, str, str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"hh-{tag}", f"a-{tag}", f"b-{tag}", f"c-{tag}", f"d-{tag}"


async def test_a_newer_state_replaces_the_members_and_rewrites_only_what_changed(relief_db: ReliefDb) -> None:
    household_id, a, b, c, d = ids()
    assert await apply(relief_db, household(household_id, [member(a), member(b, relation="spouse"),
                                                           member(c, relation="child")]), T1)
    before = await person_rows(relief_db, household_id)
    assert set(before) == {a, b, c}
    assert before[a]["birth_date"] == date(1960, 5, 1)

    # b left, a was renamed, c is unchanged, d joined; the household moved town.
    assert await apply(relief_db, household(household_id, [member(a, name="王某某"), member(c, relation="child"),
                                                           member(d, relation="grandchild", birth_date=None)],
                                            town=OTHER_TOWN, edge=True), T2)
    after = await person_rows(relief_db, household_id)
    assert set(after) == {a, c, d}
    assert (after[a]["name"], after[a]["town"], after[a]["source_time"]) == ("王某某", OTHER_TOWN, T2)
    assert (after[d]["relation"], after[d]["birth_date"], after[d]["source_time"]) == ("grandchild", None, T2)
    # c's town changed with the household's, so c was rewritten too.
    assert (after[c]["town"], after[c]["source_time"]) == (OTHER_TOWN, T2)
    assert (await household_row(relief_db, household_id) or {})["town"] == OTHER_TOWN

    # The same members again at a later time: the household advances, unchanged members are not rewritten
    # (their source_time stays that of the event that last changed them).
    members_again = [member(a, name="王某某"), member(c, relation="child"),
                     member(d, relation="grandchild", birth_date=None)]
    later = datetime.fromisoformat("2020-06-03T08:00:00+08:00")
    assert await apply(relief_db, household(household_id, members_again, town=OTHER_TOWN, edge=True), later)
    again = await person_rows(relief_db, household_id)
    assert {p: r["version"] for p, r in again.items()} == {p: r["version"] for p, r in after.items()}
    assert again[a]["source_time"] == T2
    assert (await household_row(relief_db, household_id) or {})["source_time"] == later


async def test_an_older_state_is_ignored_and_an_equal_time_is_applied(relief_db: ReliefDb) -> None:
    household_id, a, b, _, _ = ids()
    assert await apply(relief_db, household(household_id, [member(a), member(b)]), T1)
    stored = await household_row(relief_db, household_id)
    persons = await person_rows(relief_db, household_id)

    assert not await apply(relief_db, household(household_id, [], town=OTHER_TOWN), T0)
    assert await household_row(relief_db, household_id) == stored
    assert await person_rows(relief_db, household_id) == persons

    # The very same event again changes no row at all.
    assert await apply(relief_db, household(household_id, [member(a), member(b)]), T1)
    assert await household_row(relief_db, household_id) == stored
    assert await person_rows(relief_db, household_id) == persons

    # Another state with the same time is applied (as before: only an older one is ignored).
    assert await apply(relief_db, household(household_id, [member(b, status="moved_away")], edge=True), T1)
    assert (await household_row(relief_db, household_id) or {})["edge"] is True
    assert {p: r["status"] for p, r in (await person_rows(relief_db, household_id)).items()} == {b: "moved_away"}


async def test_a_death_comes_with_the_state_and_a_person_listed_twice_takes_the_last(relief_db: ReliefDb) -> None:
    household_id, a, b, _, _ = ids()
    other_household = f"{household_id}-x"
    assert await apply(relief_db, household(other_household, [member(b)]), T1)
    assert await apply(relief_db, household(household_id, [member(a)]), T1)
    async with relief_db.uow() as uow:
        await apply_deceased(uow.session, {"person_id": a, "died_on": "2020-06-01"})
        await uow.commit()
    assert (await person_rows(relief_db, household_id))[a]["deceased_on"] == date(2020, 6, 1)

    # b joins this household (listed twice: the last listing counts); a's death is in the state.
    dead = member(a, deceased_on="2020-06-01", status="deceased")
    assert await apply(relief_db, household(household_id, [dead, member(b, relation="x"), member(b, relation="son")]),
                       T2)
    persons = await person_rows(relief_db, household_id)
    assert {p: (r["relation"], r["deceased_on"], r["status"]) for p, r in persons.items()} == {
        a: ("head", date(2020, 6, 1), "deceased"), b: ("son", None, "active")}
    assert await person_rows(relief_db, other_household) == {}

    # A household without members keeps none.
    assert await apply(relief_db, household(household_id, []), datetime.fromisoformat("2020-06-03T08:00:00+08:00"))
    assert await person_rows(relief_db, household_id) == {}
