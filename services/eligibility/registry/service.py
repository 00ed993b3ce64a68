"""Use cases of the registry: register and change households and members, record their incomes,
expenditure and assets, keep every change in the history, and tell the other services
(``eligibility.household.registered`` / ``.changed`` with the full member list)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import events
from services.eligibility.access import ensure_visible
from services.eligibility.figures import add_months, local_date, month_of
from services.eligibility.registry.models import (
    Asset,
    Expenditure,
    Household,
    HouseholdChange,
    Income,
    Person,
)
from services.eligibility.registry.schemas import (
    AssetIn,
    ExpenditureIn,
    HouseholdIn,
    HouseholdPatch,
    IncomeIn,
    PersonIn,
    PersonPatch,
)
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.ids import parse_id_number

log = structlog.get_logger("eligibility.registry")


@dataclass(frozen=True)
class Actor:
    """Who makes a change and through which client (history)."""

    subject: str
    client: str | None = None

    @classmethod
    def of(cls, principal: Principal, client: str | None = None) -> Actor:
        return cls(principal.subject, client)


SYSTEM = Actor("system", "eligibility")


# --- reading ----------------------------------------------------------------------------------


async def get_household(session: AsyncSession, household_id: uuid.UUID, principal: Principal | None, *, lock: bool = False) -> Household:
    """The household, or 404 (also for another town's household seen by a town user, R-DB-7, and
    another village's seen by a village officer)."""
    household = await session.get(Household, household_id, with_for_update=lock)
    if household is None:
        raise not_found("household")
    if principal is not None:
        ensure_visible(principal, household.town, household.village, "household")
    return household


async def get_person(session: AsyncSession, person_id: uuid.UUID, principal: Principal | None, *, lock: bool = False) -> tuple[Person, Household]:
    person = await session.get(Person, person_id, with_for_update=lock)
    if person is None:
        raise not_found("person")
    household = await session.get(Household, person.household_id)
    assert household is not None
    if principal is not None:
        ensure_visible(principal, household.town, household.village, "person")
    return person, household


async def members_of(session: AsyncSession, household_id: uuid.UUID) -> list[Person]:
    """Every person recorded in the household (the deceased and moved-away included), head first."""
    rows = (await session.scalars(select(Person).where(Person.household_id == household_id))).all()
    return sorted(rows, key=lambda p: (p.relation != "head", p.birth_date, p.id_number))


async def person_by_id_number(session: AsyncSession, id_number: str) -> Person | None:
    return await session.scalar(select(Person).where(Person.id_number == id_number))


# --- events -----------------------------------------------------------------------------------


def person_data(person: Person) -> events.PersonData:
    return events.PersonData(
        person_id=str(person.id),
        name=person.name,
        id_number=person.id_number,
        sex=person.sex,
        birth_date=person.birth_date,
        relation=person.relation,
        disability_grade=person.disability_grade,
        disability_kind=person.disability_kind,
        long_term_care=person.long_term_care,
        serious_illness=person.serious_illness,
        school_enrolment=person.school_enrolment,
        work_injury_care_allowance=person.work_injury_care_allowance,
        bank_account=person.bank_account,
        deceased_on=person.deceased_on,
        left_behind=person.left_behind,
        orphan=person.orphan,
        child_without_care=person.child_without_care,
        revolutionary_veteran=person.revolutionary_veteran,
        status=person.status,
        living_together=person.living_together,
    )


def household_data(household: Household, members: Sequence[Person]) -> events.HouseholdData:
    return events.HouseholdData(
        household_id=str(household.id),
        town=household.town,
        village=household.village,
        registered_poor=household.registered_poor,
        ex_poor=household.ex_poor,
        edge=household.edge,
        lonely_elderly=household.lonely_elderly,
        members=[person_data(p) for p in members],
        head_person_id=str(household.head_person_id) if household.head_person_id else None,
        revision=household.revision,
    )


async def emit_household(uow: UnitOfWork, household: Household, *, registered: bool = False) -> None:
    """Stage ``eligibility.household.registered`` / ``.changed`` with the full current state."""
    await uow.session.flush()
    members = await members_of(uow.session, household.id)
    uow.emit(
        events.HOUSEHOLD_REGISTERED if registered else events.HOUSEHOLD_CHANGED,
        household_data(household, members),
        subject=str(household.id),
    )


def touch(uow: UnitOfWork, household: Household) -> None:
    household.revision += 1
    household.updated_at = uow.now()


# --- history ----------------------------------------------------------------------------------


def record_change(
    uow: UnitOfWork,
    actor: Actor,
    household_id: uuid.UUID,
    action: str,
    changes: dict[str, Any],
    *,
    person_id: uuid.UUID | None = None,
) -> None:
    """Append to the household's history: who, when, through which client, what changed."""
    uow.session.add(
        HouseholdChange(
            household_id=household_id,
            person_id=person_id,
            at=uow.now(),
            actor=actor.subject,
            client=actor.client,
            action=action,
            changes=_jsonable(changes),
        )
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, uuid.UUID)):
        return value.isoformat() if isinstance(value, date) else str(value)
    if hasattr(value, "as_tuple"):  # Decimal
        return format(value, "f")
    return value


def apply_fields(target: Any, fields: dict[str, Any]) -> dict[str, list[Any]]:
    """Set ``fields`` on ``target``; returns ``{field: [old, new]}`` of those that changed."""
    changed: dict[str, list[Any]] = {}
    for name, value in fields.items():
        old = getattr(target, name)
        if old != value:
            setattr(target, name, value)
            changed[name] = [old, value]
    return changed


# --- registering ------------------------------------------------------------------------------


def default_period(today: date) -> tuple[date, date]:
    """The 12 calendar months before the current one (an income "of the last 12 months")."""
    current = month_of(today)
    return add_months(current, -12), add_months(current, -1)


def _person_row(data: PersonIn, household_id: uuid.UUID, now, today: date) -> Person:  # noqa: ANN001
    resident = parse_id_number(data.id_number, today=today)
    fields = data.model_dump(exclude={"id_number", "name", "supporters", "parents"})
    return Person(
        id=uuid.uuid4(),
        household_id=household_id,
        id_number=resident.number,
        name=data.name,
        sex=resident.sex,
        birth_date=resident.birth_date,
        supporters=[s.model_dump(mode="json") for s in data.supporters],
        parents=[p.model_dump(mode="json") for p in data.parents],
        status="active",
        created_at=now,
        updated_at=now,
        **fields,
    )


def check_birth_dates(numbers: Sequence[tuple[str, str]], today: date) -> None:
    """422 ``birth_date`` when an ID number's birth date is after today (the clock's date)."""
    from shared.ids import IdNumberError

    for field, number in numbers:
        try:
            parse_id_number(number, today=today)
        except IdNumberError as exc:
            raise Problem(422, exc.code, exc.message, errors=[{"field": field, "code": exc.code, "message": exc.message}]) from None


async def refuse_registered(session: AsyncSession, numbers: Sequence[tuple[str, str]]) -> None:
    """One person, one record: 409 ``id_number_registered`` naming the household holding a number."""
    wanted = {number: field for field, number in numbers}
    if not wanted:
        return
    rows = (await session.execute(select(Person.id_number, Person.household_id, Person.id).where(Person.id_number.in_(wanted)))).all()
    if rows:
        number, household_id, person_id = rows[0]
        raise Problem(
            409,
            "id_number_registered",
            "this ID number is already registered (one person, one record)",
            household_id=str(household_id),
            person_id=str(person_id),
            errors=[{"field": wanted[number], "code": "id_number_registered",
                     "message": f"already registered in household {household_id}"}],
        )


async def flush_unique(session: AsyncSession, numbers: Sequence[tuple[str, str]]) -> None:
    """Flush; a concurrent registration of the same number (unique index) becomes the 409."""
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Problem(409, "id_number_registered", "this ID number was registered concurrently; retry to see where") from None


def _entry_person(entry: IncomeIn | ExpenditureIn, by_number: dict[str, uuid.UUID], valid: set[uuid.UUID]) -> uuid.UUID | None:
    if entry.id_number is not None:
        if entry.id_number not in by_number:
            raise Problem(422, "unknown_member", "id_number is not a member of this household")
        return by_number[entry.id_number]
    if entry.person_id is not None and entry.person_id not in valid:
        raise Problem(422, "unknown_member", "person_id is not a member of this household")
    return entry.person_id


def income_row(entry: IncomeIn, household_id: uuid.UUID, person_id: uuid.UUID | None, today: date, now, reported_by: str, reference: str | None = None) -> Income:  # noqa: ANN001
    first, last = (entry.first_month, entry.last_month) if entry.first_month else default_period(today)
    return Income(household_id=household_id, person_id=person_id, source=entry.source, first_month=first, last_month=last,
                  amount=entry.amount, reported_by=reported_by, reference=reference, created_at=now)


def expenditure_row(entry: ExpenditureIn, household_id: uuid.UUID, person_id: uuid.UUID | None, today: date, now, reported_by: str, reference: str | None = None) -> Expenditure:  # noqa: ANN001
    first, last = (entry.first_month, entry.last_month) if entry.first_month else default_period(today)
    return Expenditure(household_id=household_id, person_id=person_id, category=entry.category, first_month=first,
                       last_month=last, amount=entry.amount, reported_by=reported_by, reference=reference, created_at=now)


def asset_row(entry: AssetIn, household_id: uuid.UUID, now) -> Asset:  # noqa: ANN001
    return Asset(household_id=household_id, kind=entry.kind, value=entry.value, disqualifying=entry.disqualifying,
                 note=entry.note, created_at=now)


async def register_household(*, uow: UnitOfWork, principal: Principal, actor: Actor, data: HouseholdIn) -> Household:
    """Register a household with its members, incomes, expenditure and assets.

    A town user registers in its own town only (403 ``other_town``). Each member's ID number is
    checked (422 ``birth_date`` for a birth date after today) and must not be registered anywhere
    in the district (409 ``id_number_registered`` naming the household). Emits
    ``eligibility.household.registered``; a monitored household (R-RM-1) is evaluated at once.
    """
    if not principal.can_see_town(data.town):
        raise Problem(403, "other_town", "a town user registers households of its own town only")
    session = uow.session
    now = uow.now()
    today = local_date(now)
    numbers = [(f"members.{i}.id_number", m.id_number) for i, m in enumerate(data.members)]
    check_birth_dates(numbers, today)
    await refuse_registered(session, numbers)
    household = Household(
        id=uuid.uuid4(),
        town=data.town,
        village=data.village,
        address=data.address,
        registered_poor=data.registered_poor,
        ex_poor=data.ex_poor,
        edge=data.edge,
        lonely_elderly=data.lonely_elderly,
        irregular_income=data.irregular_income,
        department_data=False,
        status="active",
        revision=1,
        created_at=now,
        updated_at=now,
    )
    persons = [_person_row(m, household.id, now, today) for m in data.members]
    household.head_person_id = next(p.id for p in persons if p.relation == "head")
    if data.ex_poor or data.edge:
        household.monitoring_due_on = today
    session.add(household)
    await session.flush()
    session.add_all(persons)
    by_number = {p.id_number: p.id for p in persons}
    valid = set(by_number.values())
    for entry in data.incomes:
        session.add(income_row(entry, household.id, _entry_person(entry, by_number, valid), today, now, "household"))
    for entry in data.expenditures:
        session.add(expenditure_row(entry, household.id, _entry_person(entry, by_number, valid), today, now, "household"))
    for entry in data.assets:
        session.add(asset_row(entry, household.id, now))
    await flush_unique(session, numbers)
    record_change(uow, actor, household.id, "registered", {
        "town": data.town, "village": data.village, "members": [str(p.id) for p in persons],
        "incomes": len(data.incomes), "expenditures": len(data.expenditures), "assets": len(data.assets),
    })
    await emit_household(uow, household, registered=True)
    if household.monitoring_due_on is not None:
        from services.eligibility.monitoring.service import evaluate_household

        await evaluate_household(uow=uow, household=household, trigger="registered")
    log.info("eligibility.household.registered", household_id=str(household.id), town=household.town, members=len(persons))
    return household


async def update_household(*, uow: UnitOfWork, principal: Principal, actor: Actor, household_id: uuid.UUID, patch: HouseholdPatch) -> Household:
    """Change household fields; history and ``eligibility.household.changed``. 422
    ``village_not_in_town`` for a village of another town, ``unknown_member`` for a head who is
    not an active member."""
    household = await get_household(uow.session, household_id, principal, lock=True)
    fields = patch.model_dump(exclude_unset=True)
    if "village" in fields and fields["village"] is not None:
        from shared import regions

        if regions.town_of_village(fields["village"]).code != household.town:
            raise Problem(422, "village_not_in_town", "the village is not in the household's town")
    if "head_person_id" in fields:
        head = await uow.session.get(Person, fields["head_person_id"]) if fields["head_person_id"] else None
        if head is None or head.household_id != household.id or head.status != "active":
            raise Problem(422, "unknown_member", "the head must be an active member of the household")
    fields = {k: v for k, v in fields.items() if v is not None or k == "head_person_id"}
    changed = apply_fields(household, fields)
    if changed:
        touch(uow, household)
        record_change(uow, actor, household.id, "household_changed", changed)
        await emit_household(uow, household)
        await _reevaluate(uow, household, "household_changed")
    return household


async def add_member(*, uow: UnitOfWork, principal: Principal, actor: Actor, household_id: uuid.UUID, data: PersonIn) -> Person:
    """Add a member (one person, one record: 409 ``id_number_registered``)."""
    household = await get_household(uow.session, household_id, principal, lock=True)
    if household.status != "active":
        raise Problem(409, "household_closed", "the household is closed")
    now = uow.now()
    today = local_date(now)
    numbers = [("id_number", data.id_number)]
    check_birth_dates(numbers, today)
    if data.relation == "head":
        raise Problem(422, "head_exists", "the household has a head; change head_person_id instead")
    await refuse_registered(uow.session, numbers)
    person = _person_row(data, household.id, now, today)
    uow.session.add(person)
    await flush_unique(uow.session, numbers)
    touch(uow, household)
    record_change(uow, actor, household.id, "member_added", {"relation": data.relation}, person_id=person.id)
    await emit_household(uow, household)
    await _reevaluate(uow, household, "member_added")
    return person


async def update_person(*, uow: UnitOfWork, principal: Principal, actor: Actor, person_id: uuid.UUID, patch: PersonPatch) -> Person:
    """Change a member's fields (history keeps old and new values; ``household.changed``)."""
    person, household = await get_person(uow.session, person_id, principal, lock=True)
    fields = patch.model_dump(exclude_unset=True)
    if "id_number" in fields:
        if fields["id_number"] is None:
            raise Problem(422, "id_number_required", "id_number cannot be removed")
        if fields["id_number"] != person.id_number:
            numbers = [("id_number", fields["id_number"])]
            check_birth_dates(numbers, local_date(uow.now()))
            await refuse_registered(uow.session, numbers)
            resident = parse_id_number(fields["id_number"])
            fields["sex"], fields["birth_date"] = resident.sex, resident.birth_date
    for key in ("name", "relation", "living_together", "able_to_work", "long_term_care", "serious_illness",
                "school_enrolment", "work_injury_care_allowance", "child_without_care", "revolutionary_veteran"):
        if key in fields and fields[key] is None:
            raise Problem(422, "field_required", f"{key} cannot be null", errors=[{"field": key, "code": "field_required", "message": "cannot be null"}])
    if fields.get("relation") == "head" and person.relation != "head":
        raise Problem(422, "head_exists", "change the household's head_person_id instead")
    grade = fields.get("disability_grade", person.disability_grade)
    kind = fields.get("disability_kind", person.disability_kind)
    if (grade is None) != (kind is None):
        raise Problem(422, "disability", "disability_grade and disability_kind go together")
    if "supporters" in fields:
        fields["supporters"] = [s.model_dump(mode="json") if hasattr(s, "model_dump") else s for s in patch.supporters or []]
    if "parents" in fields:
        fields["parents"] = [p.model_dump(mode="json") if hasattr(p, "model_dump") else p for p in patch.parents or []]
    changed = apply_fields(person, fields)
    if changed:
        person.updated_at = uow.now()
        await flush_unique(uow.session, [("id_number", person.id_number)])
        touch(uow, household)
        record_change(uow, actor, household.id, "member_changed", changed, person_id=person.id)
        await emit_household(uow, household)
        await _reevaluate(uow, household, "member_changed")
    return person


async def add_income(*, uow: UnitOfWork, principal: Principal, actor: Actor, household_id: uuid.UUID, entry: IncomeIn, reported_by: str = "household", reference: str | None = None) -> Income:
    household = await get_household(uow.session, household_id, principal, lock=True)
    person_id = await _resolve_member(uow.session, household, entry)
    row = income_row(entry, household.id, person_id, local_date(uow.now()), uow.now(), reported_by, reference)
    uow.session.add(row)
    await uow.session.flush()
    touch(uow, household)
    record_change(uow, actor, household.id, "income_added", {
        "income_id": row.id, "source": row.source, "amount": row.amount,
        "first_month": row.first_month, "last_month": row.last_month, "reported_by": reported_by,
    }, person_id=person_id)
    await _reevaluate(uow, household, "income_added")
    return row


async def add_expenditure(*, uow: UnitOfWork, principal: Principal, actor: Actor, household_id: uuid.UUID, entry: ExpenditureIn, reported_by: str = "household", reference: str | None = None) -> Expenditure:
    household = await get_household(uow.session, household_id, principal, lock=True)
    person_id = await _resolve_member(uow.session, household, entry)
    row = expenditure_row(entry, household.id, person_id, local_date(uow.now()), uow.now(), reported_by, reference)
    uow.session.add(row)
    await uow.session.flush()
    touch(uow, household)
    record_change(uow, actor, household.id, "expenditure_added", {
        "expenditure_id": row.id, "category": row.category, "amount": row.amount,
        "first_month": row.first_month, "last_month": row.last_month, "reported_by": reported_by,
    }, person_id=person_id)
    await _reevaluate(uow, household, "expenditure_added")
    return row


async def add_asset(*, uow: UnitOfWork, principal: Principal, actor: Actor, household_id: uuid.UUID, entry: AssetIn) -> Asset:
    household = await get_household(uow.session, household_id, principal, lock=True)
    row = asset_row(entry, household.id, uow.now())
    uow.session.add(row)
    await uow.session.flush()
    touch(uow, household)
    record_change(uow, actor, household.id, "asset_added", {"asset_id": row.id, "kind": row.kind, "value": row.value, "disqualifying": row.disqualifying})
    return row


async def delete_entry(*, uow: UnitOfWork, principal: Principal, actor: Actor, household_id: uuid.UUID, kind: str, entry_id: int) -> None:
    """Remove an income, expenditure or asset entered by mistake (history keeps what it was)."""
    model = {"incomes": Income, "expenditures": Expenditure, "assets": Asset}[kind]
    household = await get_household(uow.session, household_id, principal, lock=True)
    row = await uow.session.get(model, entry_id)
    if row is None or row.household_id != household.id:
        raise not_found(kind[:-1])
    snapshot = {c.key: getattr(row, c.key) for c in model.__table__.columns if c.key not in ("household_id", "created_at")}
    await uow.session.delete(row)
    touch(uow, household)
    record_change(uow, actor, household.id, f"{kind[:-1]}_removed", snapshot)
    await _reevaluate(uow, household, f"{kind[:-1]}_removed")


async def _resolve_member(session: AsyncSession, household: Household, entry: IncomeIn | ExpenditureIn) -> uuid.UUID | None:
    if entry.id_number is None and entry.person_id is None:
        return None
    members = await members_of(session, household.id)
    by_number = {p.id_number: p.id for p in members}
    return _entry_person(entry, by_number, set(by_number.values()))


async def _reevaluate(uow: UnitOfWork, household: Household, trigger: str) -> None:
    """R-RM: a relevant change re-evaluates a monitored household at once."""
    from services.eligibility.monitoring.service import evaluate_household, is_monitored

    if is_monitored(household):
        await evaluate_household(uow=uow, household=household, trigger=trigger)


async def count_members(session: AsyncSession, household_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not household_ids:
        return {}
    rows = await session.execute(
        select(Person.household_id, func.count())
        .where(Person.household_id.in_(household_ids), Person.status == "active")
        .group_by(Person.household_id)
    )
    return {hid: int(n) for hid, n in rows.all()}
