"""The household assistance chain (一户一条救助链): projecting events, reading a household's chain.

:func:`project_event` runs in the gateway's event consumers (one transaction with the inbox row,
so every event takes effect once); :func:`household_chain` serves the read, from the projection
only — never by calling a service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, bindparam, or_, select, tuple_, update
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


# The projection's statements, built once with bound parameters: SQLAlchemy compiles each a single
# time (its compiled cache), asyncpg keeps it prepared, and an event costs one round trip — the
# household's place and its chain entry in one statement (a data-modifying CTE), executemany when a
# move names two households. No ORM state is involved.
_households = ChainHousehold.__table__
_entries = ChainEntry.__table__


def _param(name: str, column: Any) -> Any:
    # Parameter names differ from column names: SQLAlchemy reserves those for its own VALUES binds.
    return bindparam(name, type_=column.type)


def _insert_place() -> Any:
    h = _households.c
    return insert(_households).values(
        household_id=_param("hh", h.household_id), town=_param("h_town", h.town),
        village=_param("h_village", h.village), revision=_param("h_revision", h.revision),
        updated_at=_param("now", h.updated_at),
    )


def _place_by_registry() -> Any:
    """Upsert of ``:hh``'s town by an ``eligibility.household.*`` event: the newest ``revision``
    wins (an older one arriving late changes nothing)."""
    h = _households.c
    statement = _insert_place()
    x = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[h.household_id],
        set_={"town": x.town, "village": x.village, "revision": x.revision, "updated_at": x.updated_at},
        where=or_(h.revision.is_(None), and_(x.revision.is_not(None), x.revision > h.revision)),
    )


def _places_if_unknown() -> tuple[Any, Any]:
    """Any other event only fills a town still unknown: the household inserted if new (ON CONFLICT
    DO NOTHING), and updated only where its town IS NULL — two data-modifying CTEs of one
    statement (they see the same snapshot: the UPDATE never sees the row the INSERT adds, which
    has the town already).

    Not an upsert: ON CONFLICT DO UPDATE locks the existing row even when its WHERE refuses the
    update, so every event of a household queued its consumer lane behind the others' open
    transactions on that row (and two lanes taking two households in opposite orders deadlocked:
    the DBAPIError retries of subsidy.payment.paid). DO NOTHING and an UPDATE whose WHERE matches
    no row lock nothing, so a household whose town is known — nearly every event — is only read.
    (Two events placing a *new* household at once: the second's UPDATE does not see the first's
    row; if the first had no town, the town waits for the household's next event.)"""
    h = _households.c
    insert_new = _insert_place().on_conflict_do_nothing(index_elements=[h.household_id])
    town = _param("h_town", h.town)
    fill = (
        update(_households)
        .where(h.household_id == _param("hh", h.household_id), h.town.is_(None), town.is_not(None))
        .values(town=town, village=_param("h_village", h.village), updated_at=_param("now", h.updated_at))
    )
    return insert_new, fill


def _place_if_unknown() -> Any:
    """:func:`_places_if_unknown` as one statement (the UPDATE, the INSERT as its CTE)."""
    insert_new, fill = _places_if_unknown()
    return fill.add_cte(insert_new.cte("inserted"))


def _with_entry(*places: Any) -> Any:
    """``places`` then the event's entry for ``:hh`` (one per event and household: ON CONFLICT)."""
    e = _entries.c
    statement = insert(_entries).values(
        household_id=_param("hh", e.household_id), occurred_at=_param("e_at", e.occurred_at),
        service=_param("e_service", e.service), type=_param("e_type", e.type), step=_param("e_step", e.step),
        subject=_param("e_subject", e.subject), summary=_param("e_summary", e.summary), data=_param("e_data", e.data),
        event_id=_param("e_id", e.event_id),
    ).on_conflict_do_nothing()
    for number, place in enumerate(places):
        statement = statement.add_cte(place.cte(f"placed_{number}"))
    return statement


PLACE_BY_REGISTRY = _place_by_registry()
PLACE_IF_UNKNOWN = _place_if_unknown()
ENTRY_PLACED_BY_REGISTRY = _with_entry(_place_by_registry())
ENTRY_PLACED_IF_UNKNOWN = _with_entry(*_places_if_unknown())


def _placement(event: CloudEvent, household_id: str, now: datetime) -> dict[str, Any]:
    """The place parameters of ``household_id``: the town and village the event gives it."""
    data = event.data
    if event.type in HOUSEHOLD_EVENTS:
        revision = data.get("revision")
        town, village, revision = data.get("town"), data.get("village"), int(revision) if revision is not None else None
    elif event.type == "eligibility.person.moved":
        # The household left is in from_town, the one joined in to_town.
        town = data.get("from_town") if household_id == str(data.get("household_id")) else data.get("to_town")
        village, revision = None, None
    else:
        town, village, revision = town_of(event.type, data), data.get("village"), None
    return {"hh": household_id[:64], "h_town": _text(town, 9), "h_village": _text(village, 12),
            "h_revision": revision, "now": now}


async def project_event(session: AsyncSession, event: CloudEvent, *, now: datetime) -> int:
    """Apply one consumed event to the projection: the households' towns (the registry's household
    events decide, newest ``revision`` first; any other event only fills a town still unknown), and
    one chain entry per household it concerns (see :mod:`gateway.reports.entries`). Returns how many
    entries the event stands for (0 for an event about no household, or one that only moves a town);
    applied again it writes nothing more (one entry per event and household). One round trip."""
    households = households_of(event.type, event.data)
    if not households:
        return 0
    registry = event.type in HOUSEHOLD_EVENTS
    rows = [_placement(event, household_id, now) for household_id in households]
    described = describe(event.type, event.data)
    if described is None:
        await session.execute(PLACE_BY_REGISTRY if registry else PLACE_IF_UNKNOWN, rows)
        return 0
    # describe() names the same households, in the same order, as households_of().
    entry = {"e_at": event.time, "e_service": event.type.split(".", 1)[0], "e_type": event.type,
             "e_step": described.step, "e_subject": _text(event.subject, 128), "e_summary": described.summary,
             "e_data": described.data, "e_id": event.id}
    await session.execute(ENTRY_PLACED_BY_REGISTRY if registry else ENTRY_PLACED_IF_UNKNOWN,
                          [{**row, **entry} for row in rows])
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
