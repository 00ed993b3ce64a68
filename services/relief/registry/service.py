"""Keeping the registry projection (event handlers call these) and looking applicants up."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.relief.registry.models import RegisteredHousehold, RegisteredPerson

# ``eligibility.household.registered/changed`` in ONE round trip with a fixed statement (compiled
# and prepared once; building three statements plus one per member for each event made this
# projection half of the service's CPU). ``fresh`` locks the household row and holds the event
# unless it is older than the stored state; only then are the household and its members written.
# A row equal to the event's state is not rewritten: for members the comparison leaves
# ``source_time`` out (it is the time of the event that last changed the member), for the
# household it keeps it in (it orders the next events). Members no longer listed leave the
# household (deleted); the two member statements touch disjoint rows, as PostgreSQL requires of
# data-modifying CTEs.
_APPLY_HOUSEHOLD = text("""
WITH event AS (
    SELECT CAST(:household_id AS varchar) AS household_id, CAST(:town AS varchar) AS town,
           CAST(:village AS varchar) AS village, CAST(:registered_poor AS boolean) AS registered_poor,
           CAST(:ex_poor AS boolean) AS ex_poor, CAST(:edge AS boolean) AS edge,
           CAST(:lonely_elderly AS boolean) AS lonely_elderly, CAST(:at AS timestamptz) AS at,
           CAST(:person_ids AS varchar[]) AS person_ids
), stored AS (
    SELECT h.source_time FROM registered_households h, event
    WHERE h.household_id = event.household_id FOR UPDATE OF h
), fresh AS (
    SELECT event.* FROM event WHERE NOT EXISTS (SELECT 1 FROM stored WHERE stored.source_time > event.at)
), household AS (
    INSERT INTO registered_households AS h
        (household_id, town, village, registered_poor, ex_poor, edge, lonely_elderly, source_time)
    SELECT household_id, town, village, registered_poor, ex_poor, edge, lonely_elderly, at FROM fresh
    ON CONFLICT (household_id) DO UPDATE SET
        town = EXCLUDED.town, village = EXCLUDED.village, registered_poor = EXCLUDED.registered_poor,
        ex_poor = EXCLUDED.ex_poor, edge = EXCLUDED.edge, lonely_elderly = EXCLUDED.lonely_elderly,
        source_time = EXCLUDED.source_time
    WHERE h.source_time <= EXCLUDED.source_time
      AND (h.town, h.village, h.registered_poor, h.ex_poor, h.edge, h.lonely_elderly, h.source_time)
          IS DISTINCT FROM (EXCLUDED.town, EXCLUDED.village, EXCLUDED.registered_poor, EXCLUDED.ex_poor,
                            EXCLUDED.edge, EXCLUDED.lonely_elderly, EXCLUDED.source_time)
), gone AS (
    DELETE FROM registered_persons p USING fresh
    WHERE p.household_id = fresh.household_id AND p.person_id <> ALL (fresh.person_ids)
), members AS (
    INSERT INTO registered_persons AS p
        (person_id, household_id, town, name, id_number, sex, birth_date, relation, deceased_on, status,
         source_time)
    SELECT m.person_id, fresh.household_id, fresh.town, m.name, m.id_number, m.sex, m.birth_date, m.relation,
           m.deceased_on, m.status, fresh.at
    FROM fresh, unnest(fresh.person_ids, CAST(:names AS varchar[]), CAST(:id_numbers AS varchar[]),
                       CAST(:sexes AS varchar[]), CAST(:birth_dates AS date[]), CAST(:relations AS varchar[]),
                       CAST(:deaths AS date[]), CAST(:statuses AS varchar[]))
        AS m(person_id, name, id_number, sex, birth_date, relation, deceased_on, status)
    ON CONFLICT (person_id) DO UPDATE SET
        household_id = EXCLUDED.household_id, town = EXCLUDED.town, name = EXCLUDED.name,
        id_number = EXCLUDED.id_number, sex = EXCLUDED.sex, birth_date = EXCLUDED.birth_date,
        relation = EXCLUDED.relation, deceased_on = EXCLUDED.deceased_on, status = EXCLUDED.status,
        source_time = EXCLUDED.source_time
    WHERE (p.household_id, p.town, p.name, p.id_number, p.sex, p.birth_date, p.relation, p.deceased_on, p.status)
          IS DISTINCT FROM (EXCLUDED.household_id, EXCLUDED.town, EXCLUDED.name, EXCLUDED.id_number, EXCLUDED.sex,
                            EXCLUDED.birth_date, EXCLUDED.relation, EXCLUDED.deceased_on, EXCLUDED.status)
)
SELECT EXISTS (SELECT 1 FROM fresh)
""")


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


async def apply_household(session: AsyncSession, data: dict[str, Any], at: datetime) -> bool:
    """Upsert a household and its members from ``eligibility.household.registered/changed`` data
    (the full current state; one statement). An event older than the stored state (``at`` <
    ``source_time``) is ignored; members no longer listed leave the household. Returns False when
    ignored. Raises KeyError without ``household_id``, ``town`` or a member's ``person_id``."""
    town = data["town"]
    # By person id, the last listing wins (as one upsert after another would leave it).
    members = {str(m["person_id"]): m for m in data.get("members") or []}
    listed = members.values()
    params = {
        "household_id": str(data["household_id"]), "town": town, "village": data.get("village"),
        "registered_poor": bool(data.get("registered_poor")), "ex_poor": bool(data.get("ex_poor")),
        "edge": bool(data.get("edge")), "lonely_elderly": bool(data.get("lonely_elderly")), "at": at,
        "person_ids": list(members),
        "names": [str(m.get("name") or "") for m in listed],
        "id_numbers": [m.get("id_number") for m in listed],
        "sexes": [m.get("sex") for m in listed],
        "birth_dates": [_date(m.get("birth_date")) for m in listed],
        "relations": [m.get("relation") for m in listed],
        "deaths": [_date(m.get("deceased_on")) for m in listed],
        "statuses": [m.get("status") for m in listed],
    }
    return bool((await session.execute(_APPLY_HOUSEHOLD, params)).scalar_one())


async def apply_deceased(session: AsyncSession, data: dict[str, Any]) -> None:
    """``eligibility.person.deceased``: record the date of death."""
    await session.execute(
        update(RegisteredPerson).where(RegisteredPerson.person_id == str(data["person_id"]))
        .values(deceased_on=_date(data.get("died_on")), status="deceased")
    )


async def apply_moved(session: AsyncSession, data: dict[str, Any]) -> None:
    """``eligibility.person.moved``: the person now lives in ``to_town`` (household
    ``to_household_id``), or left the district (``to_town`` null: status ``moved_away``)."""
    values: dict[str, Any]
    if data.get("to_town"):
        values = {"town": data["to_town"], "status": "active"}
        if data.get("to_household_id"):
            values["household_id"] = str(data["to_household_id"])
    else:
        values = {"status": "moved_away"}
    await session.execute(
        update(RegisteredPerson).where(RegisteredPerson.person_id == str(data["person_id"])).values(**values)
    )


async def find_person(
    session: AsyncSession, *, person_id: str | None, id_number: str | None, prefer_town: str | None = None
) -> RegisteredPerson | None:
    """A registered person by id, else by resident ID number (18 characters, normalised); should
    an ID number be on several rows (a stale projection), the row of ``prefer_town`` first."""
    if person_id is not None:
        return await session.get(RegisteredPerson, person_id)
    if id_number is not None:
        query = select(RegisteredPerson).where(RegisteredPerson.id_number == id_number)
        if prefer_town is not None:
            query = query.order_by((RegisteredPerson.town == prefer_town).desc(), RegisteredPerson.person_id)
        return await session.scalar(query.limit(1))
    return None


async def id_number_registered(session: AsyncSession, id_number: str) -> bool:
    """Whether a person of the district's registry holds this ID number — anyone but those who
    left the district (``moved_away``: they apply as non-locals, R-TR-6)."""
    query = select(RegisteredPerson.person_id).where(
        RegisteredPerson.id_number == id_number,
        RegisteredPerson.status.is_distinct_from("moved_away"),
    ).limit(1)
    return await session.scalar(query) is not None


async def get_household(session: AsyncSession, household_id: str) -> RegisteredHousehold | None:
    return await session.get(RegisteredHousehold, household_id)
