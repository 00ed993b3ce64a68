"""Keeping the registry projection (event handlers call these) and looking applicants up."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.relief.registry.models import RegisteredHousehold, RegisteredPerson


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


async def apply_household(session: AsyncSession, data: dict[str, Any], at: datetime) -> bool:
    """Upsert a household and its members from ``eligibility.household.registered/changed`` data
    (the full current state). An event older than the stored state (``at`` < ``source_time``) is
    ignored; members no longer listed leave the household. Returns False when ignored."""
    household_id = str(data["household_id"])
    current = await session.scalar(
        select(RegisteredHousehold.source_time).where(RegisteredHousehold.household_id == household_id).with_for_update()
    )
    if current is not None and current > at:
        return False
    values = {
        "town": data["town"], "village": data.get("village"),
        "registered_poor": bool(data.get("registered_poor")), "ex_poor": bool(data.get("ex_poor")),
        "edge": bool(data.get("edge")), "lonely_elderly": bool(data.get("lonely_elderly")), "source_time": at,
    }
    statement = insert(RegisteredHousehold).values(household_id=household_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["household_id"], set_=values))
    members = data.get("members") or []
    ids = [str(m["person_id"]) for m in members]
    await session.execute(
        delete(RegisteredPerson).where(RegisteredPerson.household_id == household_id, RegisteredPerson.person_id.not_in(ids))
    )
    for member in members:
        person = {
            "household_id": household_id, "town": data["town"], "name": str(member.get("name") or ""),
            "id_number": member.get("id_number"), "sex": member.get("sex"),
            "birth_date": _date(member.get("birth_date")), "relation": member.get("relation"),
            "deceased_on": _date(member.get("deceased_on")), "status": member.get("status"), "source_time": at,
        }
        statement = insert(RegisteredPerson).values(person_id=str(member["person_id"]), **person)
        await session.execute(statement.on_conflict_do_update(index_elements=["person_id"], set_=person))
    return True


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


async def find_person(session: AsyncSession, *, person_id: str | None, id_number: str | None) -> RegisteredPerson | None:
    """A registered person by id, else by resident ID number (18 characters, normalised)."""
    if person_id is not None:
        return await session.get(RegisteredPerson, person_id)
    if id_number is not None:
        return await session.scalar(select(RegisteredPerson).where(RegisteredPerson.id_number == id_number).limit(1))
    return None


async def get_household(session: AsyncSession, household_id: str) -> RegisteredHousehold | None:
    return await session.get(RegisteredHousehold, household_id)
