"""Use cases of the left-behind registry (R-LB-1): entering, changing, leaving, the national export."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import select

from services.care.common import ensure_not_future, ensure_visible, today
from services.care.leftbehind import rules
from services.care.leftbehind.models import LeftBehindChange, LeftBehindEntry
from services.care.leftbehind.schemas import FACTS_BY_CATEGORY
from services.care.parameters.service import ParameterSnapshot, parameters_on
from services.care.persons.models import Person
from services.care.persons.service import ensure_alive, load_person, visible_person
from shared.auth import Principal
from shared.csvcells import safe_row
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.regions import town as town_region
from shared.regions import village as village_region

log = structlog.get_logger("care.leftbehind")

CRITERIA_KEYS = ["left_behind_child_max_age", "left_behind_elderly_min_age", "left_behind_absence_months"]


def criteria(params: ParameterSnapshot) -> rules.Criteria:
    return rules.Criteria(
        child_max_age=params.get_int("left_behind_child_max_age"),
        elderly_min_age=params.get_int("left_behind_elderly_min_age"),
        absence_months=params.get_int("left_behind_absence_months"),
    )


async def evaluate(uow: UnitOfWork, *, category: str, sex: str | None, birth_date: date | None, on: date,
                   facts: dict[str, Any]) -> rules.CriteriaResult:
    """R-LB-1 criteria with the parameters in force on ``on``; the trace lists their versions."""
    params = await parameters_on(uow, on, CRITERIA_KEYS)
    result = rules.check(category, sex=sex, birth_date=birth_date, on=on, facts=facts, criteria=criteria(params))  # type: ignore[arg-type]
    result.trace["parameters"] = params.trace()
    return result


def _refused(result: rules.CriteriaResult) -> Problem:
    return Problem(
        422, "criteria_not_met", "The person does not meet the category's criteria",
        errors=[{"field": "facts", "code": code, "message": code.replace("_", " ")} for code in result.failures],
        failures=result.failures,
    )


def _history(uow: UnitOfWork, entry: LeftBehindEntry, change: str, on: date, details: dict[str, Any], note: str | None, by: str) -> None:
    uow.session.add(
        LeftBehindChange(entry_id=entry.id, change=change, on=on, details=details, note=note, by=by, at=uow.now())
    )


async def enter(
    *, uow: UnitOfWork, principal: Principal, person_id: uuid.UUID, category: str, facts: dict[str, Any],
    entered_on: date | None,
) -> LeftBehindEntry:
    """Register a person as left-behind in ``category`` (R-LB-1) when they meet its criteria.
    422 ``criteria_not_met`` (``failures`` listed), ``future_date``; 409 ``already_registered``,
    ``person_deceased``; 404 person."""
    person = await visible_person(uow, principal, person_id, for_update=True)
    ensure_alive(person)
    on = entered_on or today(uow)
    ensure_not_future(on, today(uow), "entered_on")
    if await uow.session.scalar(
        select(LeftBehindEntry.id).where(
            LeftBehindEntry.person_id == person.id, LeftBehindEntry.category == category, LeftBehindEntry.status == "active"
        )
    ) is not None:
        raise Problem(409, "already_registered", "The person is already registered in this category")
    result = await evaluate(uow, category=category, sex=person.sex, birth_date=person.birth_date, on=on, facts=facts)
    if not result.met:
        raise _refused(result)
    entry = LeftBehindEntry(
        person_id=person.id, category=category, town=person.town, village=person.village, facts=facts,
        criteria_trace=result.trace, status="active", entered_on=on, created_by=principal.subject, created_at=uow.now(),
    )
    uow.session.add(entry)
    await uow.session.flush()
    _history(uow, entry, "entered", on, {"facts": facts}, None, principal.subject)
    log.info("care.left_behind.entered", entry_id=str(entry.id), category=category, town=entry.town)
    return entry


async def visible_entry(uow: UnitOfWork, principal: Principal, entry_id: uuid.UUID, *, for_update: bool = False) -> LeftBehindEntry:
    entry = await uow.session.get(LeftBehindEntry, entry_id, with_for_update=for_update)
    if entry is None:
        raise not_found("left-behind entry")
    ensure_visible(principal, entry.town, entry.village, "left-behind entry")
    return entry


async def change(
    *, uow: UnitOfWork, principal: Principal, entry_id: uuid.UUID, facts: dict[str, Any], on: date | None, note: str | None
) -> LeftBehindEntry:
    """Record changed facts of an active entry; they must still meet the criteria (else the
    person leaves the registry instead). 409 ``entry_left``; 422 ``criteria_not_met``, fact
    validation codes, ``future_date``."""
    entry = await visible_entry(uow, principal, entry_id, for_update=True)
    if entry.status != "active":
        raise Problem(409, "entry_left", "The person has left the registry")
    try:
        checked = FACTS_BY_CATEGORY[entry.category].validate_python(facts)
    except ValidationError as exc:
        errors = [{"field": "facts." + ".".join(str(p) for p in e["loc"]), "code": e["type"], "message": e["msg"]} for e in exc.errors()]
        raise Problem(422, "validation_failed", "The facts do not fit the category", errors=errors) from None
    clean = checked.model_dump(mode="json")
    day = on or today(uow)
    ensure_not_future(day, today(uow), "on")
    person = await load_person(uow, entry.person_id)
    result = await evaluate(uow, category=entry.category, sex=person.sex, birth_date=person.birth_date, on=day, facts=clean)
    if not result.met:
        raise _refused(result)
    _history(uow, entry, "changed", day, {"from": entry.facts, "to": clean}, note, principal.subject)
    entry.facts, entry.criteria_trace = clean, result.trace
    return entry


async def leave(
    *, uow: UnitOfWork, principal: Principal, entry_id: uuid.UUID, left_on: date, reason: str, note: str | None
) -> LeftBehindEntry:
    """The person leaves the registry (parents returned, aged out, moved …). 409 ``entry_left``;
    422 ``future_date``, ``left_before_entry``."""
    entry = await visible_entry(uow, principal, entry_id, for_update=True)
    if entry.status != "active":
        raise Problem(409, "entry_left", "The person has already left the registry")
    ensure_not_future(left_on, today(uow), "left_on")
    if left_on < entry.entered_on:
        raise Problem(422, "left_before_entry", "left_on is before the entry")
    _leave(uow, entry, left_on, reason, note, principal.subject)
    return entry


def _leave(uow: UnitOfWork, entry: LeftBehindEntry, on: date, reason: str, note: str | None, by: str) -> None:
    entry.status, entry.left_on, entry.left_reason = "left", on, reason
    _history(uow, entry, "left", on, {"reason": reason}, note, by)


async def leave_all_of(uow: UnitOfWork, person_id: uuid.UUID, on: date, reason: str) -> None:
    """Every active entry of a person leaves (death)."""
    rows = await uow.session.scalars(
        select(LeftBehindEntry).where(LeftBehindEntry.person_id == person_id, LeftBehindEntry.status == "active").with_for_update()
    )
    for entry in rows.all():
        _leave(uow, entry, max(on, entry.entered_on), reason, None, "system")


async def sweep_aged_out(uow: UnitOfWork, *, batch: int) -> int:
    """Children who reached ``left_behind_child_max_age`` leave the registry (reason
    ``aged_out``) on that birthday; claimed with FOR UPDATE SKIP LOCKED. Returns the count."""
    on = today(uow)
    params = await parameters_on(uow, on, ["left_behind_child_max_age"])
    max_age = params.get_int("left_behind_child_max_age")
    rows = (
        await uow.session.execute(
            select(LeftBehindEntry, Person.birth_date)
            .join(Person, Person.id == LeftBehindEntry.person_id)
            .where(
                LeftBehindEntry.category == "child", LeftBehindEntry.status == "active",
                Person.birth_date <= rules.latest_birth_aged_out(on, max_age),
            )
            .limit(batch)
            .with_for_update(of=LeftBehindEntry, skip_locked=True)
        )
    ).all()
    count = 0
    for entry, birth in rows:
        ages_out = rules.child_ages_out_on(birth, max_age)
        _leave(uow, entry, max(ages_out, entry.entered_on), "aged_out", None, "system")
        count += 1
    if count:
        log.info("care.left_behind.aged_out", count=count)
    return count


async def history_of(uow: UnitOfWork, entry_id: uuid.UUID) -> list[LeftBehindChange]:
    rows = await uow.session.scalars(
        select(LeftBehindChange).where(LeftBehindChange.entry_id == entry_id).order_by(LeftBehindChange.id)
    )
    return list(rows.all())


# --- the export for the national management system ---------------------------------------------

EXPORT_HEADERS = [
    "姓名", "公民身份号码", "性别", "出生日期", "留守类型", "所属镇（街道）", "所属村（居）", "村（居）区划代码",
    "留守情形", "外出时长（月）", "监护照料情况", "登记日期", "状态", "退出日期", "退出原因",
]
_SEX = {"male": "男", "female": "女"}
_STATUS = {"active": "在册", "left": "已退出"}
_SITUATION = {
    "both_away": "父母均外出务工", "one_away_other_unable": "一方外出务工、另一方无监护能力",
}
_CARE = {
    "grandparent": "祖父母照料", "other_relative": "其他亲属照料", "other": "其他人员照料", "none": "无人照料",
    "alone": "独居", "with_spouse": "与配偶同住", "with_grandchildren": "与孙辈同住",
}
_LEFT_REASON = {
    "parents_returned": "父母返乡", "family_returned": "家人返乡", "aged_out": "年满十六周岁", "moved_away": "迁出",
    "deceased": "死亡", "no_longer_meets": "不再符合条件", "other": "其他",
}


def _situation(category: str, facts: dict[str, Any]) -> str:
    if category == "child":
        return _SITUATION.get(facts.get("parents", ""), "")
    if category == "elderly":
        return "子女均外出务工" if facts.get("children_away") else ""
    return "丈夫外出务工" if facts.get("husband_away") else ""


async def export_rows(uow: UnitOfWork, *, town: str | None, category: str | None, status: str | None) -> tuple[str, int]:
    """The registry as CSV for the national management system (全国农村留守儿童和困境儿童信息管理系统
    and its elderly/women counterparts): UTF-8 with a byte-order mark (so the spreadsheet tools
    the towns use read the Chinese correctly), Chinese headers (:data:`EXPORT_HEADERS`), one row per
    entry. Returns (text, rows).

    Text cells pass through :func:`shared.csvcells.safe_row`: a name starting with ``=`` ``+``
    ``-`` ``@`` (or a tab/CR) is written ``'``-prefixed, so a spreadsheet does not run it as a
    formula. The 18-digit ID numbers are written as they are (no ``="…"`` wrapper, no tab): the
    file's first reader is the national system's import, which expects the bare number; a clerk
    opening it in Excel must import column B as text (数据 → 从文本/CSV → 列数据格式 "文本"),
    else Excel shows it in scientific notation and drops digits past the 15th."""
    query = (
        select(LeftBehindEntry, Person)
        .join(Person, Person.id == LeftBehindEntry.person_id)
        .order_by(LeftBehindEntry.town, LeftBehindEntry.village, LeftBehindEntry.entered_on, LeftBehindEntry.id)
    )
    if town is not None:
        query = query.where(LeftBehindEntry.town == town)
    if category is not None:
        query = query.where(LeftBehindEntry.category == category)
    if status is not None:
        query = query.where(LeftBehindEntry.status == status)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADERS)
    count = 0
    for entry, person in (await uow.session.execute(query)).all():
        facts = entry.facts or {}
        writer.writerow(safe_row([
            person.name or "",
            person.id_number or "",
            _SEX.get(person.sex or "", ""),
            person.birth_date.isoformat() if person.birth_date else "",
            rules.CATEGORY_NAMES[entry.category],
            town_region(entry.town).name,
            village_region(entry.village).name if entry.village else "",
            entry.village or "",
            _situation(entry.category, facts),
            facts.get("absence_months", ""),
            _CARE.get(facts.get("guardian") or facts.get("living") or "", ""),
            entry.entered_on.isoformat(),
            _STATUS[entry.status],
            entry.left_on.isoformat() if entry.left_on else "",
            _LEFT_REASON.get(entry.left_reason or "", ""),
        ]))
        count += 1
    return buffer.getvalue(), count
