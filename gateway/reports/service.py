"""The household assistance chain (一户一条救助链): projecting events, reading a household's chain.

:func:`project_event` runs in the gateway's event consumers (one transaction with the inbox row,
so every event takes effect once); :func:`household_chain` serves the read, from the projection
only — never by calling a service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.reports.entries import describe, households_of, town_of
from gateway.reports.models import ChainEntry, ChainHousehold
from gateway.reports.schemas import Chain, ChainItem
from shared.auth import TOWN_APPROVER, TOWN_CASEWORKER, Principal
from shared.calendar import TZ
from shared.errors import Problem, not_found
from shared.events.envelope import CloudEvent
from shared.pagination import PageParams, encode_cursor

log = structlog.get_logger("gateway.reports")

HOUSEHOLD_EVENTS = ("eligibility.household.registered", "eligibility.household.changed")
#: Town staff see the chains of their own town's households; district roles every chain.
TOWN_ROLES = (TOWN_APPROVER, TOWN_CASEWORKER)


def _text(value: Any, limit: int) -> str | None:
    return None if value is None or value == "" else str(value)[:limit]


async def _place_household(session: AsyncSession, event: CloudEvent, household_id: str, now: datetime) -> None:
    """Keep ``household_id``'s current town: the registry's household events decide (newest
    ``revision`` wins); any other event only fills a town still unknown."""
    data = event.data
    if event.type in HOUSEHOLD_EVENTS:
        revision = data.get("revision")
        statement = insert(ChainHousehold).values(
            household_id=household_id, town=_text(data.get("town"), 9), village=_text(data.get("village"), 12),
            revision=int(revision) if revision is not None else None, updated_at=now,
        )
        newer = or_(
            ChainHousehold.revision.is_(None),
            and_(statement.excluded.revision.is_not(None), statement.excluded.revision > ChainHousehold.revision),
        )
        await session.execute(statement.on_conflict_do_update(
            index_elements=[ChainHousehold.household_id],
            set_={"town": statement.excluded.town, "village": statement.excluded.village,
                  "revision": statement.excluded.revision, "updated_at": statement.excluded.updated_at},
            where=newer,
        ))
        return
    if event.type == "eligibility.person.moved":
        # The household left is in from_town, the one joined in to_town.
        town = data.get("from_town") if household_id == str(data.get("household_id")) else data.get("to_town")
        village = None
    else:
        town, village = town_of(event.type, data), data.get("village")
    statement = insert(ChainHousehold).values(
        household_id=household_id, town=_text(town, 9), village=_text(village, 12), revision=None, updated_at=now,
    )
    await session.execute(statement.on_conflict_do_update(
        index_elements=[ChainHousehold.household_id],
        set_={"town": statement.excluded.town, "village": statement.excluded.village,
              "updated_at": statement.excluded.updated_at},
        where=and_(ChainHousehold.town.is_(None), statement.excluded.town.is_not(None)),
    ))


async def project_event(session: AsyncSession, event: CloudEvent, *, now: datetime) -> int:
    """Apply one consumed event to the projection: the households' towns, then one chain entry
    per household it concerns (see :mod:`gateway.reports.entries`). Returns how many entries the
    event stands for (0 for an event about no household, or one that only moves a town); applied
    again it writes nothing more (one entry per event and household)."""
    households = households_of(event.type, event.data)
    if not households:
        return 0
    for household_id in households:
        await _place_household(session, event, household_id[:64], now)
    described = describe(event.type, event.data)
    if described is None:
        return 0
    rows = [
        {"household_id": household_id[:64], "occurred_at": event.time, "service": event.type.split(".", 1)[0],
         "type": event.type, "step": described.step, "subject": _text(event.subject, 128), "summary": described.summary,
         "data": described.data, "event_id": event.id}
        for household_id in described.households
    ]
    await session.execute(insert(ChainEntry).on_conflict_do_nothing(), rows)
    log.debug("gateway.reports.chain.projected", event_type=event.type, entries=len(rows))
    return len(rows)


def ensure_chain_reader(principal: Principal) -> None:
    """403 unless district roles (district_admin, district_approver, auditor) or town staff."""
    if not principal.district_wide and not principal.has_role(*TOWN_ROLES):
        raise Problem(403, "forbidden", "Only district staff and town staff read assistance chains")
    if principal.client:
        raise Problem(403, "forbidden", "System clients do not read assistance chains")


def _after(page: PageParams) -> tuple[datetime, int, int] | None:
    if not page.after:
        return None
    try:
        instant, step, entry_id = page.after
        after = datetime.fromisoformat(str(instant)), int(step), int(entry_id)
    except (TypeError, ValueError):
        raise Problem(422, "invalid_cursor", "The cursor is not valid") from None
    if after[0].tzinfo is None:
        raise Problem(422, "invalid_cursor", "The cursor is not valid")
    return after


async def household_chain(session: AsyncSession, *, household_id: str, principal: Principal, page: PageParams) -> Chain:
    """One page of a household's chain, oldest first (by event time, then lifecycle step, then arrival).

    404 ``not_found`` for a household no event named, and for a household of another town than a
    town user's (R-DB-7: its existence is not revealed). Raises 422 ``invalid_cursor``."""
    household = await session.get(ChainHousehold, household_id[:64]) if len(household_id) <= 64 else None
    if household is None:
        raise not_found("household")
    if not principal.district_wide and (household.town is None or household.town != principal.town):
        raise not_found("household")
    query = select(ChainEntry).where(ChainEntry.household_id == household.household_id)
    after = _after(page)
    if after is not None:
        query = query.where(tuple_(ChainEntry.occurred_at, ChainEntry.step, ChainEntry.id) > tuple_(*after))
    query = query.order_by(ChainEntry.occurred_at, ChainEntry.step, ChainEntry.id).limit(page.limit + 1)
    rows = list((await session.scalars(query)).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    items = [
        ChainItem(occurred_at=r.occurred_at.astimezone(TZ), service=r.service, type=r.type, subject=r.subject,
                  summary=r.summary, data=r.data)
        for r in rows
    ]
    last = rows[-1] if rows else None
    cursor = encode_cursor([last.occurred_at.isoformat(), last.step, last.id]) if more and last is not None else None
    return Chain(household_id=household.household_id, town=household.town, items=items, next_cursor=cursor)
