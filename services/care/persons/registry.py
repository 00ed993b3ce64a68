"""The persons of ``eligibility.household.registered`` / ``.changed``, projected in bulk.

An event costs one SELECT (the members' current rows, locked) and, when a member's details
changed, one INSERT … ON CONFLICT DO UPDATE sent for all the changed members at once
(executemany: asyncpg pipelines the rows in one round trip); a replay of an unchanged household
writes nothing. Both statements have a fixed shape, so SQLAlchemy compiles them once.
No ORM object is loaded: the rules of the projection are applied to plain rows here, and the rare
members whose change has consequences (a death, a tekun person's disability) are returned for the
handler to act on with ORM objects (``lifecycle.person_died``, ``open_reassessment``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import String, bindparam, func, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from services.care.persons.models import Person
from shared.db import UnitOfWork
from shared.regions import is_town, is_village

_persons = Person.__table__
# What a household event sets on a person (the rest — tekun, self-care, willingness — is not its).
DETAILS = (
    "household_id", "town", "village", "name", "id_number", "sex", "birth_date", "disability_grade",
    "disability_kind", "long_term_care", "left_behind", "deceased_on",
)
_NEW = dict.fromkeys(DETAILS) | {"town": "", "long_term_care": False, "tekun": False}

_SELECTED = ("id", "eligibility_person_id", "tekun", *DETAILS)
# The members' rows by registry id and — for a person registered here first (a left-behind child)
# now in the registry — by ID number, locked: the comparison below decides the writes. One
# equality probe per key (LATERAL): a plain ``= ANY(:ids)`` gets a sequential scan from a plan
# that asyncpg's prepared statement keeps from when the table was nearly empty.
_CURRENT = text(" UNION ALL ".join(
    f"SELECT p.* FROM unnest(CAST(:{key} AS varchar[])) AS k(v) CROSS JOIN LATERAL "
    f"(SELECT {', '.join(_SELECTED)} FROM persons WHERE {column} = k.v FOR UPDATE) AS p"
    for key, column in (("ids", "eligibility_person_id"), ("numbers", "id_number"))
)).bindparams(
    bindparam("ids", type_=ARRAY(String)), bindparam("numbers", type_=ARRAY(String))
).columns(*(_persons.c[c] for c in _SELECTED))
# Linking a care-registered person to the registry id, before the upsert finds it by that id.
_LINK = (
    update(_persons).where(_persons.c.id == bindparam("person_pk"))
    .values(eligibility_person_id=bindparam("registry_id"), source="eligibility")
)
_insert = insert(_persons)
_ex = _insert.excluded
# The values were computed from the locked rows; COALESCE keeps a death (and the other "only if
# given" details) even for a row inserted concurrently since the SELECT.
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[_persons.c.eligibility_person_id],
    set_={
        "household_id": _ex.household_id,
        "town": func.coalesce(func.nullif(_ex.town, ""), _persons.c.town),
        "village": _ex.village,
        "name": func.coalesce(_ex.name, _persons.c.name),
        "id_number": func.coalesce(_ex.id_number, _persons.c.id_number),
        "sex": func.coalesce(_ex.sex, _persons.c.sex),
        "birth_date": func.coalesce(_ex.birth_date, _persons.c.birth_date),
        "disability_grade": _ex.disability_grade,
        "disability_kind": _ex.disability_kind,
        "long_term_care": _ex.long_term_care,
        "left_behind": _ex.left_behind,
        "deceased_on": func.coalesce(_ex.deceased_on, _persons.c.deceased_on),
    },
)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A member whose change has consequences: ``died_on`` set for a death newly reported,
    else a tekun person whose disability grade or long-term care changed (R-TK-1)."""

    person_id: uuid.UUID
    died_on: date | None


def _member_state(
    current: dict[str, Any] | None, household: dict[str, Any], member: dict[str, Any], place: tuple[Any, ...]
) -> dict[str, Any]:
    """The person's row after ``member`` (the rules of the projection). A member listed with
    ``status`` ``moved_away`` belongs to another household now: only their personal details are
    refreshed, not their household or address (``person.moved`` carries the move)."""
    town, town_ok, village, village_ok = place
    state = dict(current) if current is not None else dict(_NEW, id=uuid.uuid4())
    state["eligibility_person_id"] = str(member["person_id"])
    if member.get("status") != "moved_away" or not state["town"]:
        state["household_id"] = str(household["household_id"])
        if town_ok:
            state["town"] = town
        if village_ok:
            state["village"] = village
    state["name"] = member.get("name") or state["name"]
    state["id_number"] = member.get("id_number") or state["id_number"]
    state["sex"] = member.get("sex") or state["sex"]
    if member.get("birth_date"):
        state["birth_date"] = date.fromisoformat(member["birth_date"])
    state["disability_grade"] = member.get("disability_grade")
    state["disability_kind"] = member.get("disability_kind")
    state["long_term_care"] = bool(member.get("long_term_care"))
    state["left_behind"] = member.get("left_behind")
    if member.get("deceased_on"):  # a death is never cleared
        state["deceased_on"] = date.fromisoformat(member["deceased_on"])
    return state


def _follow_up(before: dict[str, Any] | None, after: dict[str, Any]) -> FollowUp | None:
    if before is None:  # a new person (or one registered here first): nothing to end or reassess
        return None
    if before["deceased_on"] is None and after["deceased_on"] is not None:
        return FollowUp(after["id"], after["deceased_on"])
    if after["tekun"] and after["deceased_on"] is None and (
        (before["disability_grade"], before["long_term_care"]) != (after["disability_grade"], after["long_term_care"])
    ):
        return FollowUp(after["id"], None)
    return None


async def project_household(uow: UnitOfWork, household: dict[str, Any]) -> list[FollowUp]:
    """Create or refresh the persons of a household event's ``members`` (the full current state).

    ``household``: the event's data (``household_id``, ``town``, ``village``, ``members`` as
    eligibility's ``PersonData``). A person registered here first with the same ID number is
    linked (``source`` becomes ``eligibility``), not duplicated. Returns the members the handler
    must act on, in event order. Raises ``IntegrityError`` when an ID number belongs to another
    person here (the event is retried, then dead-lettered).
    """
    members = household.get("members") or []
    if not members:
        return []
    session = uow.session  # autoflushes before Core statements too: earlier handlers' changes are read
    ids = [str(m["person_id"]) for m in members]
    numbers = [m["id_number"] for m in members if m.get("id_number")]
    by_id: dict[str, dict[str, Any]] = {}
    by_number: dict[str, dict[str, Any]] = {}
    for row in await session.execute(_CURRENT, {"ids": ids, "numbers": numbers}):
        current = row._asdict()
        if current["eligibility_person_id"] is not None:
            by_id[current["eligibility_person_id"]] = current
        if current["id_number"] is not None:
            by_number[current["id_number"]] = current

    town, village = household.get("town"), household.get("village")
    place = (town, bool(town) and is_town(town), village, village is None or is_village(village))
    writes: dict[str, dict[str, Any]] = {}
    links: list[dict[str, Any]] = []
    follow_ups: list[FollowUp] = []
    for registry_id, member in zip(ids, members):
        before = by_id.get(registry_id)
        current = before
        if current is None and member.get("id_number"):
            current = by_number.get(member["id_number"])
            if current is not None:
                links.append({"person_pk": current["id"], "registry_id": registry_id})
        after = _member_state(current, household, member, place)
        if current is None or current is not before or any(after[c] != current[c] for c in DETAILS):
            writes[registry_id] = after
        by_id[registry_id] = after  # a member listed twice sees its first listing's effect
        if (follow_up := _follow_up(before, after)) is not None:
            follow_ups.append(follow_up)

    if links:
        await session.execute(_LINK, links)
    if writes:
        await session.execute(_UPSERT, [{**state, "source": "eligibility"} for state in writes.values()])
        _refresh_loaded(uow, writes.values(), {link["person_pk"] for link in links})
    return follow_ups


def _refresh_loaded(uow: UnitOfWork, states: Iterable[dict[str, Any]], linked: set[uuid.UUID]) -> None:
    """Bring Person objects an earlier handler of the unit of work loaded up to date with the
    rows just written (the identity map would return them unchanged to later queries)."""
    identity_map = uow.session.sync_session.identity_map
    if not len(identity_map):
        return
    for state in states:
        person = identity_map.get(identity_key(Person, state["id"]))
        if person is None:
            continue
        for column in ("eligibility_person_id", *DETAILS):
            set_committed_value(person, column, state[column])
        if state["id"] in linked:
            set_committed_value(person, "source", "eligibility")
