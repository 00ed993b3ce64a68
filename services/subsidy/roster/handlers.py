"""Event handlers keeping the roster projection (eligibility's registry, care's assessments).

Each handler runs in the consumer's unit of work (inbox row + effects in one transaction) and is
idempotent on its own too: upserts guarded by the event time, so a replay or an interleaving of
streams never lets an older fact overwrite a newer one. Consumed shapes: docs/events.md.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import Date, String, bindparam, case, delete, func, literal_column, null, update
from sqlalchemy.dialects.postgresql import insert

from services.subsidy.benefits import rules as benefit_rules
from services.subsidy.common import add_months, parse_month
from services.subsidy.parameters.service import params_on
from services.subsidy.roster.models import (
    RosterBenefit,
    RosterBenefitMember,
    RosterCareLevel,
    RosterHousehold,
    RosterPerson,
    RosterPlacement,
)
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.events import CloudEvent, EventHandlers

log = structlog.get_logger("subsidy.roster")

HOUSEHOLD_REGISTERED = "eligibility.household.registered"
HOUSEHOLD_CHANGED = "eligibility.household.changed"
BENEFIT_GRANTED = "eligibility.benefit.granted"
BENEFIT_CHANGED = "eligibility.benefit.changed"
BENEFIT_ENDED = "eligibility.benefit.ended"
PERSON_DECEASED = "eligibility.person.deceased"
PERSON_MOVED = "eligibility.person.moved"
SELFCARE_ASSESSED = "care.selfcare.assessed"
PLACEMENT_MADE = "care.placement.made"
PLACEMENT_ENDED = "care.placement.ended"

ROSTER_EVENT_TYPES = (
    HOUSEHOLD_REGISTERED, HOUSEHOLD_CHANGED, BENEFIT_GRANTED, BENEFIT_CHANGED, BENEFIT_ENDED,
    PERSON_DECEASED, PERSON_MOVED, SELFCARE_ASSESSED, PLACEMENT_MADE, PLACEMENT_ENDED,
)
ROSTER_STREAMS = ("eligibility", "care")

HOUSEHOLD_CATEGORIES = ("dibao",)
DIBAO_CATEGORIES = ("dibao", "dibao_single_person")
CATEGORIES = ("dibao", "dibao_single_person", "tekun", "orphan_institutional", "orphan_dispersed",
              "child_without_care", "revolutionary_veteran")


# This transaction's id (xid8, as bigint): stamped on deaths and benefit ends, so a run's re-check
# finds exactly the changes its snapshot could not see (ids >= the snapshot's xmin).
XID = literal_column("CAST(CAST(pg_current_xact_id() AS text) AS bigint)")


def _month(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value).replace(day=1)
    return parse_month(value)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PersonIn(_In):
    person_id: str
    name: str | None = None
    id_number: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    relation: str | None = None
    disability_grade: int | None = None
    disability_kind: str | None = None
    long_term_care: bool | None = None
    serious_illness: bool | None = None
    school_enrolment: str | None = None
    work_injury_care_allowance: bool | None = None
    bank_account: str | None = None
    deceased_on: date | None = None
    orphan: str | None = None
    child_without_care: bool | None = None
    revolutionary_veteran: bool | None = None


class HouseholdIn(_In):
    household_id: str
    town: str
    village: str | None = None
    registered_poor: bool | None = None
    ex_poor: bool | None = None
    edge: bool | None = None
    lonely_elderly: bool | None = None
    members: list[PersonIn] = []


class BenefitIn(_In):
    benefit_id: str
    household_id: str | None = None
    person_id: str
    category: str
    monthly_amount: Decimal
    previous_amount: Decimal | None = None
    effective_month: date
    members: list[str] = []
    town: str | None = None
    village: str | None = None
    decision_id: str | None = None
    rule: str | None = None
    # Optional fields subsidy reads when present (docs/events.md, subsidy section).
    net_income_12m: Decimal | None = None
    basis_net_income_12m: Decimal | None = None
    basis_members: int | None = None
    gradual_exit: bool | None = None
    status: str | None = None  # eligibility: active | gradual_exit
    gradual_exit_until: date | None = None
    last_month: date | None = None

    @property
    def in_gradual_exit(self) -> bool:
        return bool(self.gradual_exit) or self.status == "gradual_exit" or self.rule == "R-DB-6"

    @property
    def income_12m(self) -> Decimal | None:
        return self.net_income_12m if self.net_income_12m is not None else self.basis_net_income_12m

    @field_validator("effective_month", "last_month", "gradual_exit_until", mode="before")
    @classmethod
    def _months(cls, value: Any) -> date | None:
        return _month(value)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"unknown benefit category {value!r}")
        return value


class BenefitEndedIn(_In):
    benefit_id: str
    last_month: date
    reason: str | None = None

    @field_validator("last_month", mode="before")
    @classmethod
    def _months(cls, value: Any) -> date | None:
        return _month(value)


class DeceasedIn(_In):
    person_id: str
    household_id: str | None = None
    died_on: date
    town: str | None = None


class MovedIn(_In):
    person_id: str
    household_id: str | None = None
    to_town: str | None = None  # None: moved out of the district
    to_household_id: str | None = None
    moved_on: date | None = None


class SelfCareIn(_In):
    person_id: str
    level: str
    assessed_on: date
    assessment_id: str | None = None

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value not in ("self_care", "partial_loss", "full_loss"):
            raise ValueError(f"unknown self-care level {value!r}")
        return value


class PlacementIn(_In):
    placement_id: str
    person_id: str | None = None  # None: a person known to care only (not on the registry)
    home_id: str
    home_name: str | None = None
    bed_type: str | None = None
    started_on: date
    level: str | None = None


class PlacementEndedIn(_In):
    placement_id: str
    ended_on: date


def _xid_if(param: str) -> Any:
    """This transaction's id when the bound date ``param`` is set, else NULL (a VALUES expression)."""
    return case((bindparam(param, type_=Date()).is_not(None), XID), else_=null())


# Every statement below is built once, with bound parameters: SQLAlchemy compiles each a single
# time (its compiled cache) and asyncpg keeps it prepared; a member list is sent as executemany of
# one statement (one round trip), never as a multi-row VALUES rebuilt and recompiled per event.
_households = RosterHousehold.__table__
_persons = RosterPerson.__table__
_benefits = RosterBenefit.__table__
_benefit_members = RosterBenefitMember.__table__
_care_levels = RosterCareLevel.__table__
_placements = RosterPlacement.__table__


def _household_upsert() -> Any:
    stmt = insert(_households)
    x = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[_households.c.household_id],
        set_={c: x[c] for c in ("town", "village", "registered_poor", "ex_poor", "edge", "lonely_elderly", "event_time")},
        where=_households.c.event_time <= x.event_time,
    )


_PERSON_COLUMNS = (
    "household_id", "town", "village", "name", "id_number", "sex", "birth_date", "relation", "disability_grade",
    "disability_kind", "long_term_care", "serious_illness", "school_enrolment", "work_injury_care_allowance",
    "bank_account", "orphan", "child_without_care", "revolutionary_veteran", "event_time",
)


def _person_upsert() -> Any:
    # ``death`` repeats deceased_on: a new person who is dead is stamped with this transaction.
    stmt = insert(_persons).values(deceased_xid=_xid_if("death"))
    x, p = stmt.excluded, _persons.c
    # A household snapshot never clears a death already projected (deaths are facts; a correction
    # would be its own event); a new or changed date of death is stamped with this transaction.
    new_death = func.coalesce(x.deceased_on, p.deceased_on)
    set_ = {c: x[c] for c in _PERSON_COLUMNS}
    set_["deceased_on"] = new_death
    set_["deceased_xid"] = case((new_death.is_distinct_from(p.deceased_on), XID), else_=p.deceased_xid)
    return stmt.on_conflict_do_update(index_elements=[p.person_id], set_=set_, where=p.event_time <= x.event_time)


_BENEFIT_COLUMNS = (
    "household_id", "person_id", "category", "monthly_amount", "previous_amount", "net_income_12m", "members_count",
    "amount_basis", "effective_month", "last_month", "end_reason", "town", "village", "decision_id", "rule", "event_time",
)


def _benefit_upsert() -> Any:
    # ``ends`` repeats last_month: a benefit created already ended is stamped with this transaction.
    stmt = insert(_benefits).values(ended_xid=_xid_if("ends"))
    x, b = stmt.excluded, _benefits.c
    set_ = {c: x[c] for c in _BENEFIT_COLUMNS}
    set_["ended_xid"] = case((b.last_month.is_distinct_from(x.last_month), XID), else_=b.ended_xid)
    return stmt.on_conflict_do_update(
        index_elements=[b.benefit_id], set_=set_, where=b.event_time <= x.event_time,
    ).returning(b.benefit_id)


def _deceased_upsert() -> Any:
    stmt = insert(_persons).values(deceased_xid=XID)
    p = _persons.c
    return stmt.on_conflict_do_update(
        index_elements=[p.person_id],
        set_={"deceased_on": stmt.excluded.deceased_on,
              "deceased_xid": case((p.deceased_on.is_distinct_from(stmt.excluded.deceased_on), XID), else_=p.deceased_xid)},
    )


def _care_level_upsert() -> Any:
    stmt = insert(_care_levels)
    x, c = stmt.excluded, _care_levels.c
    return stmt.on_conflict_do_update(
        index_elements=[c.person_id],
        set_={"level": x.level, "assessed_on": x.assessed_on, "assessment_id": x.assessment_id, "event_time": x.event_time},
        # The later assessment wins; for the same day, the later event.
        where=(c.assessed_on < x.assessed_on) | ((c.assessed_on == x.assessed_on) & (c.event_time <= x.event_time)),
    )


def _placement_upsert() -> Any:
    stmt = insert(_placements)
    x = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[_placements.c.placement_id],
        set_={c: x[c] for c in ("person_id", "home_id", "home_name", "bed_type", "level", "started_on", "event_time")},
        where=_placements.c.event_time <= x.event_time,
    )


HOUSEHOLD_UPSERT = _household_upsert()
PERSON_UPSERT = _person_upsert()
BENEFIT_UPSERT = _benefit_upsert()
BENEFIT_MEMBERS_DELETE = delete(_benefit_members).where(_benefit_members.c.benefit_id == bindparam("b_id"))
BENEFIT_MEMBER_INSERT = insert(_benefit_members).on_conflict_do_nothing()
BENEFIT_END = (
    update(_benefits)
    .where(_benefits.c.benefit_id == bindparam("b_id"), _benefits.c.event_time <= bindparam("at"))
    .values(last_month=bindparam("last"), end_reason=bindparam("reason"), event_time=bindparam("at"), ended_xid=XID)
    .returning(_benefits.c.benefit_id)
)
DECEASED_UPSERT = _deceased_upsert()
MOVE = (
    update(_persons)
    .where(_persons.c.person_id == bindparam("p_id"), _persons.c.event_time <= bindparam("at"))
    # No household named: the person stays in theirs.
    .values(town=bindparam("to_town"), event_time=bindparam("at"),
            household_id=func.coalesce(bindparam("to_household", type_=String()), _persons.c.household_id))
)
CARE_LEVEL_UPSERT = _care_level_upsert()
PLACEMENT_UPSERT = _placement_upsert()
PLACEMENT_END = (
    update(_placements).where(_placements.c.placement_id == bindparam("pl_id")).values(ended_on=bindparam("ended"))
)


def _person_row(person: PersonIn, household: HouseholdIn, at: datetime) -> dict[str, Any]:
    return {
        "person_id": person.person_id,
        "household_id": household.household_id,
        "town": household.town,
        "village": household.village,
        "name": person.name,
        "id_number": person.id_number,
        "sex": person.sex,
        "birth_date": person.birth_date,
        "relation": person.relation,
        "disability_grade": person.disability_grade,
        "disability_kind": person.disability_kind,
        "long_term_care": bool(person.long_term_care),
        "serious_illness": bool(person.serious_illness),
        "school_enrolment": person.school_enrolment,
        "work_injury_care_allowance": bool(person.work_injury_care_allowance),
        "bank_account": person.bank_account,
        "deceased_on": person.deceased_on,
        "death": person.deceased_on,
        "orphan": person.orphan,
        "child_without_care": bool(person.child_without_care),
        "revolutionary_veteran": bool(person.revolutionary_veteran),
        "event_time": at,
    }


async def apply_household(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.household.registered`` / ``.changed``: the household and its members (full state).

    Two round trips whatever the household's size: the household row, then one executemany of the
    member upsert. Rows are guarded by the event time (an older snapshot changes nothing)."""
    household = HouseholdIn.model_validate(event.data)
    at = event.time
    await uow.session.execute(HOUSEHOLD_UPSERT, {
        "household_id": household.household_id, "town": household.town, "village": household.village,
        "registered_poor": bool(household.registered_poor), "ex_poor": bool(household.ex_poor),
        "edge": bool(household.edge), "lonely_elderly": bool(household.lonely_elderly), "event_time": at,
    })
    if household.members:
        await uow.session.execute(PERSON_UPSERT, [_person_row(p, household, at) for p in household.members])


async def _amount_basis(uow: UnitOfWork, benefit: BenefitIn, members_count: int) -> tuple[str, Decimal | None, date | None]:
    """How the monthly amount is computed (see RosterBenefit) and, for gradual exit, the last month."""
    if benefit.category not in DIBAO_CATEGORIES:
        return "standard", None, benefit.last_month
    if benefit.in_gradual_exit:
        last = benefit.last_month or benefit.gradual_exit_until
        if last is None:
            try:
                months = (await params_on(uow.session, benefit.effective_month)).value("gradual_exit_months")
            except Problem:
                months = 0
            last = benefit_rules.gradual_exit_last_month(
                reassessed_month=add_months(benefit.effective_month, -1), months=months)
        return "fixed", None, last
    if benefit.income_12m is not None:
        return "gap", benefit.income_12m, benefit.last_month
    params = await params_on(uow.session, benefit.effective_month)
    try:
        standard = params.value("dibao_standard")
    except Problem:  # no standard on record for that month: pay the decided amount as it is
        return "fixed", None, benefit.last_month
    income = benefit_rules.implied_net_income_12m(standard=standard, members=members_count, monthly_amount=benefit.monthly_amount)
    return "gap", income, benefit.last_month


async def apply_benefit(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.benefit.granted`` / ``.changed``: the benefit's current decision and members."""
    benefit = BenefitIn.model_validate(event.data)
    if benefit.category in HOUSEHOLD_CATEGORIES:
        members = list(dict.fromkeys(benefit.members)) or [benefit.person_id]
    else:  # individual benefits cover their payee only
        members = [benefit.person_id]
    members_count = 1 if benefit.category == "dibao_single_person" else (benefit.basis_members or len(members))
    # The payee is always linked to the benefit (the re-checks find its lines through members).
    members = list(dict.fromkeys([*members, benefit.person_id]))
    basis, income, last_month = await _amount_basis(uow, benefit, members_count)
    values = {
        "benefit_id": benefit.benefit_id, "household_id": benefit.household_id, "person_id": benefit.person_id,
        "category": benefit.category, "monthly_amount": benefit.monthly_amount,
        "previous_amount": benefit.previous_amount, "net_income_12m": income, "members_count": members_count,
        "amount_basis": basis, "effective_month": benefit.effective_month, "last_month": last_month, "ends": last_month,
        "end_reason": None, "town": benefit.town, "village": benefit.village, "decision_id": benefit.decision_id,
        "rule": benefit.rule, "event_time": event.time,
    }
    result = await uow.session.execute(BENEFIT_UPSERT, values)
    if result.scalar() is None:
        log.info("subsidy.roster.stale_event_ignored", event_type=event.type, event_id=event.id)
        return
    await uow.session.execute(BENEFIT_MEMBERS_DELETE, {"b_id": benefit.benefit_id})
    await uow.session.execute(BENEFIT_MEMBER_INSERT, [{"benefit_id": benefit.benefit_id, "person_id": p} for p in members])


async def apply_benefit_ended(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.benefit.ended``: the last month payable and why."""
    ended = BenefitEndedIn.model_validate(event.data)
    result = await uow.session.execute(BENEFIT_END, {
        "b_id": ended.benefit_id, "at": event.time, "last": ended.last_month, "reason": ended.reason})
    if result.scalar() is None:
        log.warning("subsidy.roster.benefit_end_ignored", event_id=event.id, benefit_id=ended.benefit_id)


async def apply_deceased(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.person.deceased``: the date of death (a person not yet projected is created)."""
    data = DeceasedIn.model_validate(event.data)
    await uow.session.execute(DECEASED_UPSERT, {
        "person_id": data.person_id, "household_id": data.household_id, "town": data.town, "deceased_on": data.died_on,
        "long_term_care": False, "serious_illness": False, "work_injury_care_allowance": False,
        "child_without_care": False, "revolutionary_veteran": False, "event_time": event.time,
    })


async def apply_moved(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.person.moved``: the person's town (and household, when named) from now on."""
    data = MovedIn.model_validate(event.data)
    if data.to_town is None:  # out of the district: the benefits end by their own events
        return
    await uow.session.execute(MOVE, {
        "p_id": data.person_id, "at": event.time, "to_town": data.to_town, "to_household": data.to_household_id or None})


async def apply_selfcare(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``care.selfcare.assessed``: the latest self-care level (the tekun care tier, R-TK-2)."""
    data = SelfCareIn.model_validate(event.data)
    await uow.session.execute(CARE_LEVEL_UPSERT, {
        "person_id": data.person_id, "level": data.level, "assessed_on": data.assessed_on,
        "assessment_id": data.assessment_id, "event_time": event.time,
    })


async def apply_placement(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``care.placement.made``: a centralized-support bed (the R-TK-4 fee line follows from it)."""
    data = PlacementIn.model_validate(event.data)
    if data.person_id is None:
        log.info("subsidy.roster.placement_without_registry_person", placement_id=data.placement_id)
        return
    await uow.session.execute(PLACEMENT_UPSERT, {
        "placement_id": data.placement_id, "person_id": data.person_id, "home_id": data.home_id,
        "home_name": data.home_name, "bed_type": data.bed_type, "level": data.level,
        "started_on": data.started_on, "ended_on": None, "event_time": event.time,
    })


async def apply_placement_ended(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``care.placement.ended``: the placement's last day."""
    data = PlacementEndedIn.model_validate(event.data)
    await uow.session.execute(PLACEMENT_END, {"pl_id": data.placement_id, "ended": data.ended_on})


def register(handlers: EventHandlers) -> None:
    """Subscribe the roster to its event types."""
    handlers.on(HOUSEHOLD_REGISTERED)(apply_household)
    handlers.on(HOUSEHOLD_CHANGED)(apply_household)
    handlers.on(BENEFIT_GRANTED)(apply_benefit)
    handlers.on(BENEFIT_CHANGED)(apply_benefit)
    handlers.on(BENEFIT_ENDED)(apply_benefit_ended)
    handlers.on(PERSON_DECEASED)(apply_deceased)
    handlers.on(PERSON_MOVED)(apply_moved)
    handlers.on(SELFCARE_ASSESSED)(apply_selfcare)
    handlers.on(PLACEMENT_MADE)(apply_placement)
    handlers.on(PLACEMENT_ENDED)(apply_placement_ended)
