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
from sqlalchemy import case, delete, func, literal_column, update
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
        "orphan": person.orphan,
        "child_without_care": bool(person.child_without_care),
        "revolutionary_veteran": bool(person.revolutionary_veteran),
        "event_time": at,
        "deceased_xid": XID if person.deceased_on else None,
    }


async def apply_household(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.household.registered`` / ``.changed``: the household and its members (full state)."""
    household = HouseholdIn.model_validate(event.data)
    at = event.time
    stmt = insert(RosterHousehold).values(
        household_id=household.household_id, town=household.town, village=household.village,
        registered_poor=bool(household.registered_poor), ex_poor=bool(household.ex_poor),
        edge=bool(household.edge), lonely_elderly=bool(household.lonely_elderly), event_time=at,
    )
    excluded = stmt.excluded
    await uow.session.execute(stmt.on_conflict_do_update(
        index_elements=[RosterHousehold.household_id],
        set_={c: excluded[c] for c in ("town", "village", "registered_poor", "ex_poor", "edge", "lonely_elderly", "event_time")},
        where=RosterHousehold.event_time <= excluded.event_time,
    ))
    if not household.members:
        return
    rows = [_person_row(p, household, at) for p in household.members]
    pstmt = insert(RosterPerson).values(rows)
    px = pstmt.excluded
    columns = [c for c in rows[0] if c not in ("person_id", "deceased_on", "deceased_xid")]
    set_ = {c: px[c] for c in columns}
    # A household snapshot never clears a death already projected (deaths are facts; a correction
    # would be its own event); a new or changed date of death is stamped with this transaction.
    new_death = func.coalesce(px.deceased_on, RosterPerson.deceased_on)
    set_["deceased_on"] = new_death
    set_["deceased_xid"] = case(
        (new_death.is_distinct_from(RosterPerson.deceased_on), XID), else_=RosterPerson.deceased_xid)
    await uow.session.execute(pstmt.on_conflict_do_update(
        index_elements=[RosterPerson.person_id], set_=set_, where=RosterPerson.event_time <= px.event_time,
    ))


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
        "amount_basis": basis, "effective_month": benefit.effective_month, "last_month": last_month,
        "end_reason": None, "town": benefit.town, "village": benefit.village, "decision_id": benefit.decision_id,
        "rule": benefit.rule, "event_time": event.time,
    }
    stmt = insert(RosterBenefit).values(**values, ended_xid=XID if last_month else None)
    bx = stmt.excluded
    result = await uow.session.execute(stmt.on_conflict_do_update(
        index_elements=[RosterBenefit.benefit_id],
        set_={c: bx[c] for c in values if c != "benefit_id"} | {"ended_xid": case(
            (RosterBenefit.last_month.is_distinct_from(bx.last_month), XID), else_=RosterBenefit.ended_xid)},
        where=RosterBenefit.event_time <= bx.event_time,
    ).returning(RosterBenefit.benefit_id))
    if result.scalar() is None:
        log.info("subsidy.roster.stale_event_ignored", event_type=event.type, event_id=event.id)
        return
    await uow.session.execute(delete(RosterBenefitMember).where(RosterBenefitMember.benefit_id == benefit.benefit_id))
    await uow.session.execute(insert(RosterBenefitMember).values(
        [{"benefit_id": benefit.benefit_id, "person_id": p} for p in members]
    ).on_conflict_do_nothing())


async def apply_benefit_ended(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.benefit.ended``: the last month payable and why."""
    ended = BenefitEndedIn.model_validate(event.data)
    result = await uow.session.execute(
        update(RosterBenefit)
        .where(RosterBenefit.benefit_id == ended.benefit_id, RosterBenefit.event_time <= event.time)
        .values(last_month=ended.last_month, end_reason=ended.reason, event_time=event.time, ended_xid=XID)
        .returning(RosterBenefit.benefit_id)
    )
    if result.scalar() is None:
        log.warning("subsidy.roster.benefit_end_ignored", event_id=event.id, benefit_id=ended.benefit_id)


async def apply_deceased(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.person.deceased``: the date of death (a person not yet projected is created)."""
    data = DeceasedIn.model_validate(event.data)
    stmt = insert(RosterPerson).values(
        person_id=data.person_id, household_id=data.household_id, town=data.town, deceased_on=data.died_on,
        long_term_care=False, serious_illness=False, work_injury_care_allowance=False, child_without_care=False,
        revolutionary_veteran=False, event_time=event.time, deceased_xid=XID,
    )
    await uow.session.execute(stmt.on_conflict_do_update(
        index_elements=[RosterPerson.person_id],
        set_={
            "deceased_on": stmt.excluded.deceased_on,
            "deceased_xid": case((RosterPerson.deceased_on.is_distinct_from(stmt.excluded.deceased_on), XID),
                                 else_=RosterPerson.deceased_xid),
        },
    ))


async def apply_moved(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``eligibility.person.moved``: the person's town from now on."""
    data = MovedIn.model_validate(event.data)
    if data.to_town is None:  # out of the district: the benefits end by their own events
        return
    values: dict[str, Any] = {"town": data.to_town, "event_time": event.time}
    if data.to_household_id:
        values["household_id"] = data.to_household_id
    await uow.session.execute(
        update(RosterPerson)
        .where(RosterPerson.person_id == data.person_id, RosterPerson.event_time <= event.time)
        .values(**values)
    )


async def apply_selfcare(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``care.selfcare.assessed``: the latest self-care level (the tekun care tier, R-TK-2)."""
    data = SelfCareIn.model_validate(event.data)
    stmt = insert(RosterCareLevel).values(
        person_id=data.person_id, level=data.level, assessed_on=data.assessed_on,
        assessment_id=data.assessment_id, event_time=event.time,
    )
    x = stmt.excluded
    await uow.session.execute(stmt.on_conflict_do_update(
        index_elements=[RosterCareLevel.person_id],
        set_={"level": x.level, "assessed_on": x.assessed_on, "assessment_id": x.assessment_id, "event_time": x.event_time},
        # The later assessment wins; for the same day, the later event.
        where=(RosterCareLevel.assessed_on < x.assessed_on)
        | ((RosterCareLevel.assessed_on == x.assessed_on) & (RosterCareLevel.event_time <= x.event_time)),
    ))


async def apply_placement(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``care.placement.made``: a centralized-support bed (the R-TK-4 fee line follows from it)."""
    data = PlacementIn.model_validate(event.data)
    if data.person_id is None:
        log.info("subsidy.roster.placement_without_registry_person", placement_id=data.placement_id)
        return
    values = {"placement_id": data.placement_id, "person_id": data.person_id, "home_id": data.home_id,
              "home_name": data.home_name, "bed_type": data.bed_type, "level": data.level,
              "started_on": data.started_on, "ended_on": None, "event_time": event.time}
    stmt = insert(RosterPlacement).values(**values)
    await uow.session.execute(stmt.on_conflict_do_update(
        index_elements=[RosterPlacement.placement_id],
        set_={c: stmt.excluded[c] for c in values if c not in ("placement_id", "ended_on")},
        where=RosterPlacement.event_time <= stmt.excluded.event_time,
    ))


async def apply_placement_ended(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """``care.placement.ended``: the placement's last day."""
    data = PlacementEndedIn.model_validate(event.data)
    await uow.session.execute(
        update(RosterPlacement).where(RosterPlacement.placement_id == data.placement_id).values(ended_on=data.ended_on)
    )


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
