"""Use cases of donors and pledges (R-MW-3) and of their delivery and expiry (R-MW-4).

The money invariant — a wish's pledged total never exceeds its cost — is kept by the database:
each pledge raises ``wishes.pledged`` with one conditional UPDATE (``… AND pledged + amount <=
cost``, re-checked by PostgreSQL on the latest row version when concurrent updates queue on the
row lock) and the table's ``CHECK (pledged <= cost)`` refuses anything else. The rules module only
explains a refusal (how much is still open). A pledge of one wish commits as that one statement
(autocommit), so donors racing for one wish wait on its row lock for microseconds, not for a
round trip of the Python process (``pledge_one``, the API's path for one wish, runs it straight on
the asyncpg connection; ``make_pledges`` for several wishes or an Idempotency-Key).

Lock order, to stay free of deadlocks: a request touches its wishes in ascending id order;
delivery and expiry lock the pledge first, then its wish; confirmation locks the wish and only
touches delivered pledges, which neither delivery nor expiry lock.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, MutableSet
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog
from pydantic import TypeAdapter
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.wishes import events, rules
from services.wishes.access import ensure_place
from services.wishes.campaigns.models import Wish
from services.wishes.campaigns.service import locked_wish, scoped_wishes, wish_event_fields
from services.wishes.parameters.service import InForce, InForceCache, in_force
from services.wishes.pledges.models import Donor, Pledge
from services.wishes.pledges.schemas import DonorIn, PledgeIn, PledgeLineIn, PledgeOut
from shared import regions
from shared.auth import DONOR, Principal
from shared.clock import Clock, local_today
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.events.envelope import CloudEvent, new_event
from shared.pagination import PageParams

log = structlog.get_logger("wishes.pledges")

_WISH_COLUMNS = ("id", "campaign_id", "town", "village", "household_id", "family_type", "category", "title", "cost",
                 "pledged", "status")
_WISH_RETURNING = ", ".join(f"wishes.{c}" for c in _WISH_COLUMNS)

# One statement per wish, so that the wish's row lock is held as briefly as possible (concurrent
# pledges on a wish queue on it until the pledging transaction ends):
# - lock the wish (its latest version, whatever its status) and take the amount offered, or what
#   is still open for "the rest of the wish";
# - raise the pledged total if (and only if) the wish is published and the total stays within the
#   cost — the conditional UPDATE is re-checked by PostgreSQL on the latest row version; a row
#   without ``pledge_id`` back means the wish refused and nothing at all was written (its
#   ``cur_*`` columns, read under the lock, explain why); no row at all, that there is no such wish;
# - insert the pledge from the updated row;
# - insert its outbox events (transactional outbox): ``wishes.wish.pledged``, and
#   ``wishes.wish.fully_pledged`` when the total reached the cost — in that order (one INSERT
#   whose rows are ordered, so the outbox sequence, hence the relay, keeps it; two sibling
#   INSERTs would run in no defined order). The envelopes' fixed parts
#   (id, type, source, time, subject, correlation id) come from Python (``_head``); their ``data``
#   is built here from the updated row, in the shape of ``events.WishPledged`` /
#   ``events.WishFullyPledged`` (tests/wishes/test_service_pledges.py checks the two agree).
_WISH_DATA = """jsonb_build_object(
        'wish_id', w.id, 'campaign_id', w.campaign_id, 'town', w.town, 'village', w.village,
        'household_id', w.household_id, 'family_type', w.family_type, 'category', w.category,
        'cost', CAST(w.cost AS text), 'pledged', CAST(w.pledged AS text))"""
_TAKE = text(f"""
WITH cur AS (
    SELECT id, cost, pledged, status, COALESCE(CAST(:amount AS numeric), cost - pledged) AS amount
      FROM wishes
     WHERE id = :wish_id
       FOR UPDATE
), w AS (
    UPDATE wishes
       SET pledged = wishes.pledged + cur.amount,
           status = CASE WHEN wishes.pledged + cur.amount = wishes.cost THEN 'fully_pledged' ELSE wishes.status END,
           fully_pledged_at = CASE WHEN wishes.pledged + cur.amount = wishes.cost
                                   THEN CAST(:now AS timestamptz) ELSE wishes.fully_pledged_at END
      FROM cur
     WHERE wishes.id = cur.id AND wishes.status = 'published' AND cur.amount > 0
       AND wishes.pledged + cur.amount <= wishes.cost
 RETURNING {_WISH_RETURNING}, cur.amount
), p AS (
    INSERT INTO pledges (request_id, wish_id, donor_subject, amount, status, pledged_at, expires_at,
                         pledge_days, pledge_days_parameter_id)
    SELECT CAST(:request_id AS uuid), w.id, :donor, w.amount, 'active', CAST(:now AS timestamptz),
           CAST(:expires_at AS timestamptz), :pledge_days, :parameter_id
      FROM w
 RETURNING id
), outbox AS (
    INSERT INTO outbox_events (event_id, event_type, envelope)
    SELECT e.event_id, e.event_type, e.envelope FROM (
        SELECT 1 AS ord, CAST(:pledged_id AS text) AS event_id, '{events.WISH_PLEDGED}' AS event_type,
               CAST(CAST(:pledged_head AS text) AS jsonb) || jsonb_build_object(
                   'data', {_WISH_DATA} || jsonb_build_object(
                       'pledge_id', p.id, 'amount', CAST(CAST(w.amount AS numeric(14, 2)) AS text),
                       'request_id', CAST(:request_id AS text))) AS envelope
          FROM w CROSS JOIN p
        UNION ALL
        SELECT 2, CAST(:full_id AS text), '{events.WISH_FULLY_PLEDGED}',
               CAST(CAST(:full_head AS text) AS jsonb) || jsonb_build_object(
                   'data', {_WISH_DATA} || jsonb_build_object('fully_pledged_at', CAST(:now_json AS text)))
          FROM w WHERE w.status = 'fully_pledged'
    ) e ORDER BY e.ord
)
SELECT w.*, p.id AS pledge_id, cur.cost AS cur_cost, cur.pledged AS cur_pledged, cur.status AS cur_status
  FROM cur LEFT JOIN (w CROSS JOIN p) ON true
""")


def _head(uow: UnitOfWork, event_type: str, subject: str) -> dict:
    """The fixed part of an event's envelope (everything but ``data``), as the outbox stores it."""
    envelope = new_event(event_type, {}, source=uow.source, subject=subject, time=uow.now(),
                         correlation_id=uow.correlation_id).model_dump(mode="json", exclude_none=True)
    envelope.pop("data")
    return envelope


# --- donors ----------------------------------------------------------------------------------


async def ensure_donor(
    session: AsyncSession, principal: Principal, now: datetime, known: MutableSet[str] | None = None
) -> None:
    """Create the donor's profile on first use: a person, named as at sign-up (token claim
    ``name``), until they say otherwise."""
    if known is not None and principal.subject in known:
        return
    await session.execute(
        insert(Donor).values(subject=principal.subject, kind="person", display_name=principal.name,
                             created_at=now, updated_at=now).on_conflict_do_nothing()
    )


async def get_donor(*, uow: UnitOfWork, principal: Principal) -> Donor:
    """The calling donor's profile (created on first call)."""
    await ensure_donor(uow.session, principal, uow.now())
    donor = await uow.session.get(Donor, principal.subject)
    assert donor is not None
    return donor


async def update_donor(*, uow: UnitOfWork, principal: Principal, data: DonorIn) -> Donor:
    """Set the calling donor's kind (person / organization) and display name."""
    donor = await get_donor(uow=uow, principal=principal)
    donor.kind, donor.display_name, donor.updated_at = data.kind, data.display_name, uow.now()
    log.info("wishes.donor.updated", kind=data.kind)
    return donor


# --- pledging --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    wish_id: int
    code: str  # not_found, wish_not_open, over_pledged
    open_amount: Decimal


@dataclass(frozen=True)
class PledgeMade:
    request_id: uuid.UUID
    pledges: list[Pledge]
    wishes: dict[int, Wish]


def _refusal(wish_id: int, amount: Decimal | None, row: Any) -> Refusal:
    """Why a wish refused an amount: from the ``cur_*`` columns of its ``_TAKE`` row (the wish as
    locked by the statement), or not found when there was no row."""
    if row is None or row["cur_status"] not in rules.PUBLIC_STATUSES:
        return Refusal(wish_id, "not_found", Decimal("0.00"))
    outcome = rules.evaluate_pledge(cost=row["cur_cost"], pledged=row["cur_pledged"], amount=amount,
                                    status=row["cur_status"])
    return Refusal(wish_id, outcome.code or "over_pledged", outcome.open_amount)


def _problem(refusals: list[Refusal]) -> Problem:
    """The answer to a refused request: 404 if a wish is not on the board, 409 ``wish_not_open``
    if one takes no pledges any more, else 409 ``over_pledged`` with the ``open_amount``."""
    wishes = [{"wish_id": r.wish_id, "code": r.code, "open_amount": f"{r.open_amount:.2f}"} for r in refusals]
    missing = [r for r in refusals if r.code == "not_found"]
    if missing:
        return Problem(404, "not_found", f"Wish {missing[0].wish_id} is not on the board",
                       wish_id=missing[0].wish_id, wishes=wishes)
    closed = [r for r in refusals if r.code == "wish_not_open"]
    if closed:
        return Problem(409, "wish_not_open", f"Wish {closed[0].wish_id} takes no more pledges",
                       wish_id=closed[0].wish_id, wishes=wishes)
    first = refusals[0]
    return Problem(
        409, "over_pledged",
        f"Only {first.open_amount:.2f} yuan is still open on wish {first.wish_id}; nothing was pledged",
        wish_id=first.wish_id, open_amount=f"{first.open_amount:.2f}", wishes=wishes,
    )


async def make_pledges(
    *, uow: UnitOfWork, principal: Principal, data: PledgeIn, known_donors: MutableSet[str] | None = None,
    parameters: InForceCache | None = None, one_statement: bool = False,
) -> PledgeMade:
    """R-MW-3: pledge every item of ``data`` for the calling donor, all or nothing (认领).

    Each item pledges ``amount`` yuan, or the rest of the wish when the amount is omitted. The
    expiry date uses the ``pledge_days`` in force today (R-MW-4). Refusals (nothing is stored):
    404 ``not_found`` (a wish not on the board), 409 ``wish_not_open`` (delivered or later),
    409 ``over_pledged`` with ``open_amount`` (yuan still open on the first refusing wish) and
    ``wishes`` (each refusing wish). Emits ``wishes.wish.pledged`` per wish, and
    ``wishes.wish.fully_pledged`` for each wish it completes. ``known_donors`` (donor profiles
    known to exist) and ``parameters`` (a short-lived cache of versions in force) spare queries.

    ``one_statement`` (a single wish, nothing else to commit with it): the pledge, its events and
    the wish's new total commit as the one statement that writes them (autocommit), so the wish's
    row lock lasts only while PostgreSQL runs it — not until this coroutine gets the event loop
    back to send COMMIT, which is what queues concurrent donors of one wish. The donor's profile
    may then be created even if the pledge is refused.
    """
    session = uow.session
    if one_statement:
        if len(data.items) != 1:
            raise ValueError("one_statement pledges a single wish")
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    now = uow.now()
    today = local_today(uow.clock)
    days = await (parameters.get(session, "pledge_days", today) if parameters
                  else in_force(session, "pledge_days", today))
    expires_at = rules.pledge_expires_at(now, days.value)
    await ensure_donor(session, principal, now, known_donors)
    request_id = uuid.uuid4()
    made: list[Pledge] = []
    wishes: dict[int, Wish] = {}
    refusals: list[Refusal] = []
    for item in sorted(data.items, key=lambda i: i.wish_id):  # ascending ids: no deadlock between requests
        pledged_head = _head(uow, events.WISH_PLEDGED, str(item.wish_id))
        full_head = _head(uow, events.WISH_FULLY_PLEDGED, str(item.wish_id))
        row = (await session.execute(_TAKE, {
            "wish_id": item.wish_id, "amount": item.amount, "now": now, "expires_at": expires_at,
            "request_id": request_id, "donor": principal.subject, "pledge_days": days.value,
            "parameter_id": days.version_id, "now_json": pledged_head["time"],
            "pledged_id": pledged_head["id"], "pledged_head": json.dumps(pledged_head),
            "full_id": full_head["id"], "full_head": json.dumps(full_head),
        })).mappings().first()
        if row is None or row["pledge_id"] is None:
            refusals.append(_refusal(item.wish_id, item.amount, row))
            continue
        wish = Wish(**{k: row[k] for k in _WISH_COLUMNS})
        amount = row["amount"]
        pledge = Pledge(
            id=row["pledge_id"], request_id=request_id, wish_id=wish.id, donor_subject=principal.subject,
            amount=amount, status="active", pledged_at=now, expires_at=expires_at, pledge_days=days.value,
            pledge_days_parameter_id=days.version_id,
        )
        made.append(pledge)
        wishes[wish.id] = wish
        # The statement stored the events; keep their Python twins so the commit wakes the relay.
        fields = wish_event_fields(wish)
        uow.emitted.append(CloudEvent(**pledged_head, data=events.WishPledged(
            **fields, pledge_id=pledge.id, amount=amount, request_id=str(request_id)).model_dump(mode="json")))
        if wish.status == "fully_pledged":
            uow.emitted.append(CloudEvent(**full_head, data=events.WishFullyPledged(
                **fields, fully_pledged_at=now).model_dump(mode="json")))
    if refusals:
        raise _problem(refusals)
    log.info("wishes.pledge.made", request_id=str(request_id), wishes=len(made),
             total=f"{sum((p.amount for p in made), Decimal(0)):.2f}")
    return PledgeMade(request_id, made, wishes)


# --- one wish: the hot path ------------------------------------------------------------------
#
# A pledge of one wish (most requests) runs ``_TAKE`` — the same statement, the same guard — on
# the asyncpg connection itself, outside any transaction (the statement commits on its own), and
# answers from the row it returns: no ORM session, objects or event models per pledge. For a
# donor this process has not seen yet, the statement also creates the donor's profile (a data-
# modifying CTE ahead of the others; the pledge's foreign key is checked at the statement's end).


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with its ``:name`` parameters as asyncpg's ``$n`` (one number per name, as
    SQLAlchemy numbers them), and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"(?<![:\w]):([a-z_]+)\b", number, sql), tuple(names)


_NEW_DONOR = """donor AS (
    INSERT INTO donors (subject, kind, display_name, created_at, updated_at)
    VALUES (:donor, 'person', :donor_name, CAST(:now AS timestamptz), CAST(:now AS timestamptz))
    ON CONFLICT DO NOTHING
), """
_TAKE_ONE = _numbered(_TAKE.text)
_TAKE_ONE_NEW_DONOR = _numbered(_TAKE.text.replace("WITH cur AS", "WITH " + _NEW_DONOR + "cur AS", 1))
_TIME_JSON = TypeAdapter(datetime)


def _event_head(event_type: str, subject: str, source: str, time_json: str, correlation_id: str | None) -> dict:
    """What :func:`_head` gives (a CloudEvent's envelope without ``data``), built directly."""
    head = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": source, "type": event_type, "time": time_json,
            "subject": subject, "datacontenttype": "application/json"}
    if correlation_id is not None:
        head["correlationid"] = correlation_id
    return head


class PledgeDaysCache:
    """The ``pledge_days`` version in force (R-MW-4) per day, remembered for ``ttl`` seconds like
    :class:`InForceCache` — but asking for a unit of work (a session) only when it must look."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._entries: dict[date, tuple[float, InForce]] = {}
        self._lookup = asyncio.Lock()

    async def get(self, new_uow: Callable[[], UnitOfWork], clock: Clock) -> InForce:
        """The version in force today; looked up by one caller at a time (when the entry has
        expired under a burst of pledges, the others wait for that one look-up)."""
        today = local_today(clock)
        entry = self._entries.get(today)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        async with self._lookup:
            entry = self._entries.get(today)
            if entry is not None and time.monotonic() - entry[0] < self.ttl:
                return entry[1]
            async with new_uow() as uow:
                value = await in_force(uow.session, "pledge_days", today)
            if len(self._entries) > 100:
                self._entries.clear()
            self._entries[today] = (time.monotonic(), value)
            return value


async def pledge_one(
    *, conn: Any, uow: UnitOfWork, principal: Principal, item: PledgeLineIn, days: InForce,
    known_donors: MutableSet[str] | None = None,
) -> PledgeOut:
    """R-MW-3 for one wish (认领): ``make_pledges`` with ``one_statement`` for a single item, on
    the asyncpg connection ``conn`` (autocommit, no transaction open). ``uow`` gives the source,
    clock and correlation id (it is not entered); ``days`` the ``pledge_days`` in force. Same
    refusals (404 ``not_found``, 409 ``wish_not_open``, 409 ``over_pledged`` with
    ``open_amount``), same events (``wishes.wish.pledged``, ``wishes.wish.fully_pledged``), stored
    by the statement; the caller wakes the relay. Returns the pledge as answered.
    """
    now = uow.now()
    expires_at = rules.pledge_expires_at(now, days.value)
    request_id = uuid.uuid4()
    subject = str(item.wish_id)
    now_json = _TIME_JSON.dump_python(now, mode="json")
    pledged_head = _event_head(events.WISH_PLEDGED, subject, uow.source, now_json, uow.correlation_id)
    full_head = _event_head(events.WISH_FULLY_PLEDGED, subject, uow.source, now_json, uow.correlation_id)
    values = {
        "wish_id": item.wish_id, "amount": item.amount, "now": now, "expires_at": expires_at,
        "request_id": request_id, "donor": principal.subject, "donor_name": principal.name,
        "pledge_days": days.value, "parameter_id": days.version_id, "now_json": now_json,
        "pledged_id": pledged_head["id"], "pledged_head": json.dumps(pledged_head),
        "full_id": full_head["id"], "full_head": json.dumps(full_head),
    }
    known = known_donors is not None and principal.subject in known_donors
    sql, names = _TAKE_ONE if known else _TAKE_ONE_NEW_DONOR
    try:
        row = await conn.fetchrow(sql, *[values[name] for name in names])
    except asyncpg.exceptions.DataError:
        # A value the database cannot hold (a wish id beyond 64 bits): bad input, as the app's
        # handler answers it for statements that go through SQLAlchemy.
        raise Problem(422, "value_out_of_range", "A value in the request is out of range") from None
    if known_donors is not None:
        known_donors.add(principal.subject)  # the statement created the profile, refused or not
    if row is None or row["pledge_id"] is None:
        raise _problem([_refusal(item.wish_id, item.amount, row)])
    amount = row["amount"]
    log.info("wishes.pledge.made", request_id=str(request_id), wishes=1, total=f"{amount:.2f}")
    # The row's values have the schema's types already (numeric → Decimal, timestamptz → aware
    # datetime): constructed without a second validation, serialised by the schema as usual.
    return PledgeOut.model_construct(
        id=row["pledge_id"], request_id=request_id, donor=principal.subject, wish_id=row["id"],
        wish_title=row["title"], town=row["town"], village=row["village"],
        village_name=regions.village(row["village"]).name, amount=amount, status="active", pledged_at=now,
        expires_at=expires_at, pledge_days=days.value, delivered_at=None, fulfilled_at=None, expired_at=None,
    )


def pledge_out(pledge: Pledge, wish: Wish) -> PledgeOut:
    return PledgeOut(
        id=pledge.id, request_id=pledge.request_id, donor=pledge.donor_subject, wish_id=pledge.wish_id,
        wish_title=wish.title, town=wish.town, village=wish.village, village_name=regions.village(wish.village).name,
        amount=pledge.amount, status=pledge.status, pledged_at=pledge.pledged_at, expires_at=pledge.expires_at,
        pledge_days=pledge.pledge_days, delivered_at=pledge.delivered_at, fulfilled_at=pledge.fulfilled_at,
        expired_at=pledge.expired_at,
    )


# --- reading ---------------------------------------------------------------------------------


def _own_or_place(principal: Principal, pledge: Pledge, wish: Wish) -> None:
    """A donor sees their own pledges; staff the pledges on wishes of their place. 404 otherwise."""
    if principal.has_role(DONOR) and pledge.donor_subject == principal.subject:
        return
    if principal.has_role(DONOR) and not principal.roles - {DONOR}:
        raise not_found("pledge")
    ensure_place(principal, wish.town, wish.village, "pledge")


async def get_pledge(*, uow: UnitOfWork, principal: Principal, pledge_id: int) -> tuple[Pledge, Wish]:
    row = (await uow.session.execute(
        select(Pledge, Wish).join(Wish, Wish.id == Pledge.wish_id).where(Pledge.id == pledge_id)
    )).first()
    if row is None:
        raise not_found("pledge")
    pledge, wish = row
    _own_or_place(principal, pledge, wish)
    return pledge, wish


async def list_pledges(
    *, uow: UnitOfWork, principal: Principal, page: PageParams, status: str | None, wish_id: int | None
) -> list[tuple[Pledge, Wish]]:
    """A donor's own pledges (newest first), or for staff the pledges on their place's wishes."""
    query = select(Pledge, Wish).join(Wish, Wish.id == Pledge.wish_id)
    if principal.has_role(DONOR) and not principal.roles - {DONOR}:
        query = query.where(Pledge.donor_subject == principal.subject)
    else:
        query = scoped_wishes(principal, query)
    if status is not None:
        query = query.where(Pledge.status == status)
    if wish_id is not None:
        query = query.where(Pledge.wish_id == wish_id)
    if page.after:
        query = query.where(Pledge.id < int(page.after[0]))
    rows = await uow.session.execute(query.order_by(Pledge.id.desc()).limit(page.limit + 1))
    return [(p, w) for p, w in rows.all()]


# --- delivery (R-MW-4) ----------------------------------------------------------------------


async def deliver_pledge(*, uow: UnitOfWork, principal: Principal, pledge_id: int, note: str | None) -> tuple[Pledge, Wish]:
    """R-MW-4: a pledge is handed over (by its donor, or recorded by the village officer or the
    town). It can no longer expire. Once a fully pledged wish has no pledge awaiting delivery,
    the wish is delivered and awaits the family's confirmation. 404 for another donor's or place's
    pledge; 409 ``invalid_status`` unless the pledge is active."""
    session = uow.session
    pledge, wish = await get_pledge(uow=uow, principal=principal, pledge_id=pledge_id)
    now = uow.now()
    delivered = await session.scalar(
        text("""UPDATE pledges SET status = 'delivered', delivered_at = :now, delivered_by = :who, delivery_note = :note
                 WHERE id = :id AND status = 'active' RETURNING id"""),
        {"now": now, "who": principal.subject, "note": note, "id": pledge_id},
    )
    if delivered is None:
        await session.refresh(pledge)
        raise Problem(409, "invalid_status", f"The pledge is {pledge.status}, not active", pledge_status=pledge.status)
    # Lock the wish, then count in a new statement (its snapshot sees deliveries committed meanwhile).
    wish = await locked_wish(session, pledge.wish_id)
    active = await session.scalar(
        select(func.count()).select_from(Pledge).where(Pledge.wish_id == wish.id, Pledge.status == "active")
    )
    if rules.wish_delivered(status=wish.status, active_pledges=int(active or 0)):
        wish.status = rules.next_status(rules.WISH_TRANSITIONS, "deliver", wish.status)
        wish.delivered_at = now
        log.info("wishes.wish.delivered", wish_id=wish.id)
    await session.refresh(pledge)
    log.info("wishes.pledge.delivered", pledge_id=pledge_id, wish_id=wish.id)
    return pledge, wish


# --- expiry (R-MW-4) -------------------------------------------------------------------------

_CLAIM_DUE = text("""
SELECT id, wish_id, amount, pledged_at FROM pledges
 WHERE status = 'active' AND expires_at <= :now
 ORDER BY expires_at, id
 LIMIT :limit
   FOR UPDATE SKIP LOCKED
""")

_RETURN_AMOUNT = text(f"""
UPDATE wishes
   SET pledged = pledged - :amount,
       status = CASE WHEN status = 'fully_pledged' THEN 'published' ELSE status END,
       fully_pledged_at = CASE WHEN status = 'fully_pledged' THEN NULL ELSE fully_pledged_at END
 WHERE id = :wish_id
RETURNING {_WISH_RETURNING}
""")


async def expire_due_pledges(*, uow: UnitOfWork, limit: int = 100) -> int:
    """R-MW-4: expire the active pledges whose ``expires_at`` has passed (up to ``limit``); each
    one's amount returns to its wish, a fully pledged wish goes back on the board, and
    ``wishes.pledge.expired`` is emitted. Claimed with ``FOR UPDATE SKIP LOCKED`` so that several
    replicas never expire a pledge twice; the status change is the fired-once marker. Returns
    how many expired; the caller commits."""
    session = uow.session
    now = uow.now()
    due = (await session.execute(_CLAIM_DUE, {"now": now, "limit": limit})).all()
    for pledge_id, wish_id, amount, pledged_at in sorted(due, key=lambda r: (r.wish_id, r.id)):
        await session.execute(
            text("UPDATE pledges SET status = 'expired', expired_at = :now WHERE id = :id"), {"now": now, "id": pledge_id}
        )
        row = (await session.execute(_RETURN_AMOUNT, {"amount": amount, "wish_id": wish_id})).mappings().one()
        wish = Wish(**{k: row[k] for k in _WISH_COLUMNS})
        uow.emit(
            events.PLEDGE_EXPIRED,
            events.PledgeExpired(**wish_event_fields(wish), pledge_id=pledge_id, amount=amount,
                                 pledged_at=pledged_at, expired_at=now),
            subject=str(wish_id),  # the wish's id, like its other events: consumers keep them in order
        )
        log.info("wishes.pledge.expired", pledge_id=pledge_id, wish_id=wish_id)
    return len(due)
