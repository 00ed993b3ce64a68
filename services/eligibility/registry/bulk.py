"""Bulk intake of households (JSON or CSV) with a per-row report, written set-based.

Every household is validated on its own (the same rules as ``POST /households``); a household with
any bad row is rejected whole and nothing of it is stored. The accepted ones are written with
PostgreSQL ``COPY`` (asyncpg ``copy_records_to_table`` on the unit of work's own connection, so
they commit — or roll back — with the batch's history rows and ``household.registered`` events).

CSV: one line per member, columns ``household_ref, town, village, address, registered_poor,
ex_poor, edge, lonely_elderly, id_number, name, relation`` and optionally ``living_together,
disability_grade, disability_kind, serious_illness, school_enrolment, income_source,
income_12m`` (the member's income of the last 12 months). Lines of one household share its
``household_ref``; household fields are read from its first line.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import String, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from services.eligibility import events
from services.eligibility.access import WRITERS, client_of
from services.eligibility.figures import local_date
from services.eligibility.registry.models import Person
from services.eligibility.registry.schemas import BulkReport, BulkRowReport, HouseholdIn
from services.eligibility.registry.service import Actor, default_period
from shared.app import get_uow
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.events.envelope import new_event
from shared.idempotency import Idempotency

log = structlog.get_logger("eligibility.bulk")
router = APIRouter(prefix="/api/v1/eligibility", tags=["registry"])
MAX_HOUSEHOLDS = 5000

HOUSEHOLD_COLUMNS = ("id", "town", "village", "address", "registered_poor", "ex_poor", "edge", "lonely_elderly", "irregular_income",
                     "department_data", "head_person_id", "status", "revision", "monitoring_due_on", "created_at", "updated_at")
PERSON_COLUMNS = ("id", "household_id", "id_number", "name", "sex", "birth_date", "relation", "living_together", "able_to_work",
                  "disability_grade", "disability_kind", "disability_certificate", "long_term_care", "serious_illness",
                  "school_enrolment", "work_injury_care_allowance", "bank_account", "left_behind", "orphan", "child_without_care",
                  "revolutionary_veteran", "supporters", "parents", "status", "created_at", "updated_at")
INCOME_COLUMNS = ("household_id", "person_id", "source", "first_month", "last_month", "amount", "reported_by", "created_at")
EXPENDITURE_COLUMNS = ("household_id", "person_id", "category", "first_month", "last_month", "amount", "reported_by", "created_at")
ASSET_COLUMNS = ("household_id", "kind", "value", "disqualifying", "note", "created_at")
HISTORY_COLUMNS = ("household_id", "at", "actor", "client", "action", "changes")
OUTBOX_COLUMNS = ("event_id", "event_type", "envelope", "attempts")


@dataclass
class Prepared:
    """Rows ready for COPY, one list per table."""

    households: list[tuple] = field(default_factory=list)
    persons: list[tuple] = field(default_factory=list)
    incomes: list[tuple] = field(default_factory=list)
    expenditures: list[tuple] = field(default_factory=list)
    assets: list[tuple] = field(default_factory=list)
    history: list[tuple] = field(default_factory=list)
    outbox: list[tuple] = field(default_factory=list)
    ids: list[uuid.UUID] = field(default_factory=list)


def birth_and_sex(number: str) -> tuple[date, str]:
    """Birth date and sex of an already validated 18-character ID number (GB 11643-1999)."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14])), ("male" if int(number[16]) % 2 else "female")


def prepare(items: Sequence[HouseholdIn], *, now: datetime, actor: Actor, source: str, correlation_id: str | None, emit: bool = True) -> Prepared:
    """Rows of ``items`` (already validated and checked), with a fresh id for each household."""
    out = Prepared()
    today = local_date(now)
    period = default_period(today)
    for item in items:
        household_id = uuid.uuid4()
        out.ids.append(household_id)
        members: list[dict[str, Any]] = []
        by_number: dict[str, uuid.UUID] = {}
        head_id: uuid.UUID | None = None
        for m in item.members:
            number = m.id_number  # validated and normalised by HouseholdIn
            birth, sex = birth_and_sex(number)
            person_id = uuid.uuid4()
            by_number[number] = person_id
            if m.relation == "head":
                head_id = person_id
            supporters = [s.model_dump(mode="json") for s in m.supporters]
            parents = [p.model_dump(mode="json") for p in m.parents]
            out.persons.append((
                person_id, household_id, number, m.name, sex, birth, m.relation, m.living_together,
                m.able_to_work, m.disability_grade, m.disability_kind, m.disability_certificate, m.long_term_care, m.serious_illness,
                m.school_enrolment, m.work_injury_care_allowance, m.bank_account, m.left_behind, m.orphan, m.child_without_care,
                m.revolutionary_veteran, json.dumps(supporters, ensure_ascii=False), json.dumps(parents, ensure_ascii=False), "active", now, now,
            ))
            members.append({
                "person_id": str(person_id), "name": m.name, "id_number": number, "sex": sex,
                "birth_date": birth.isoformat(), "relation": m.relation, "disability_grade": m.disability_grade,
                "disability_kind": m.disability_kind, "long_term_care": m.long_term_care, "serious_illness": m.serious_illness,
                "school_enrolment": m.school_enrolment, "work_injury_care_allowance": m.work_injury_care_allowance,
                "bank_account": m.bank_account, "deceased_on": None, "left_behind": m.left_behind, "orphan": m.orphan,
                "child_without_care": m.child_without_care, "revolutionary_veteran": m.revolutionary_veteran,
                "status": "active", "living_together": m.living_together,
            })
        monitored = item.ex_poor or item.edge
        out.households.append((
            household_id, item.town, item.village, item.address, item.registered_poor, item.ex_poor, item.edge, item.lonely_elderly,
            item.irregular_income, False, head_id, "active", 1, today if monitored else None, now, now,
        ))
        for entry in item.incomes:
            first, last = (entry.first_month, entry.last_month) if entry.first_month else period
            out.incomes.append((household_id, by_number.get(entry.id_number) if entry.id_number else None, entry.source, first, last,
                                entry.amount, "household", now))
        for entry in item.expenditures:
            first, last = (entry.first_month, entry.last_month) if entry.first_month else period
            out.expenditures.append((household_id, by_number.get(entry.id_number) if entry.id_number else None, entry.category, first,
                                     last, entry.amount, "household", now))
        for asset in item.assets:
            out.assets.append((household_id, asset.kind, asset.value, asset.disqualifying, asset.note, now))
        out.history.append((household_id, now, actor.subject, actor.client, "registered", json.dumps({
            "town": item.town, "village": item.village, "members": [m["person_id"] for m in members], "bulk": True,
        })))
        if emit:
            data = {
                "household_id": str(household_id), "town": item.town, "village": item.village,
                "registered_poor": item.registered_poor, "ex_poor": item.ex_poor, "edge": item.edge,
                "lonely_elderly": item.lonely_elderly, "members": members,
                "head_person_id": str(head_id) if head_id else None, "revision": 1,
            }
            event = new_event(events.HOUSEHOLD_REGISTERED, data, source=source, subject=str(household_id), time=now, correlation_id=correlation_id)
            out.outbox.append((event.id, event.type, event.model_dump_json(exclude_none=True), 0))
    return out


async def copy_prepared(uow: UnitOfWork, prepared: Prepared) -> None:
    """COPY the prepared rows inside the unit of work's transaction (asyncpg)."""
    connection = await uow.session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    for table, columns, rows in (
        ("households", HOUSEHOLD_COLUMNS, prepared.households),
        ("persons", PERSON_COLUMNS, prepared.persons),
        ("incomes", INCOME_COLUMNS, prepared.incomes),
        ("expenditures", EXPENDITURE_COLUMNS, prepared.expenditures),
        ("assets", ASSET_COLUMNS, prepared.assets),
        ("household_history", HISTORY_COLUMNS, prepared.history),
        ("outbox_events", OUTBOX_COLUMNS, prepared.outbox),
    ):
        if rows:
            await driver.copy_records_to_table(table, records=rows, columns=list(columns))


async def registered_numbers(uow: UnitOfWork, numbers: Sequence[str]) -> dict[str, uuid.UUID]:
    """ID numbers among ``numbers`` already registered -> the household holding each."""
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(numbers), 50_000):
        chunk = list(numbers[start:start + 50_000])
        # one array parameter (an index probe per element), not thousands of bind parameters
        rows = await uow.session.execute(
            select(Person.id_number, Person.household_id).where(Person.id_number == func.any(cast(chunk, ARRAY(String))))
        )
        found.update({n: h for n, h in rows.all()})
    return found


async def bulk_register(
    *, uow: UnitOfWork, principal: Principal | None, actor: Actor, items: Sequence[tuple[int, str | None, HouseholdIn]], emit: bool = True
) -> list[BulkRowReport]:
    """Register the valid households of a batch set-based; reports per household (``row`` = its
    index in the batch). Refused: another town (``other_town``), a number registered in the
    district (``id_number_registered`` with the household) or twice in the batch
    (``duplicate_in_batch``), a birth date after today (``birth_date``)."""
    now = uow.now()
    today = local_date(now)
    counts = Counter(m.id_number for _, _, item in items for m in item.members)
    existing = await registered_numbers(uow, list(counts))
    reports: list[BulkRowReport] = []
    accepted: list[tuple[int, str | None, HouseholdIn]] = []
    for row, ref, item in items:
        errors: list[dict[str, Any]] = []
        if principal is not None and not principal.can_see_town(item.town):
            errors.append({"field": "town", "code": "other_town", "message": "a town user registers its own town only"})
        for i, m in enumerate(item.members):
            field_name = f"members.{i}.id_number"
            if m.id_number in existing:
                errors.append({"field": field_name, "code": "id_number_registered", "message": f"already registered in household {existing[m.id_number]}",
                               "household_id": str(existing[m.id_number])})
            elif counts[m.id_number] > 1:
                errors.append({"field": field_name, "code": "duplicate_in_batch", "message": "this ID number appears in more than one household of the batch"})
            if birth_and_sex(m.id_number)[0] > today:
                errors.append({"field": field_name, "code": "birth_date", "message": "the birth date is after today"})
        if errors:
            reports.append(BulkRowReport(row=row, ref=ref, status="rejected", errors=errors))
        else:
            accepted.append((row, ref, item))
    prepared = prepare([item for _, _, item in accepted], now=now, actor=actor, source=uow.source,
                       correlation_id=uow.correlation_id, emit=emit)
    await copy_prepared(uow, prepared)
    for (row, ref, _), household_id in zip(accepted, prepared.ids, strict=True):
        reports.append(BulkRowReport(row=row, ref=ref, status="registered", household_id=household_id))
    reports.sort(key=lambda r: r.row)
    log.info("eligibility.households.bulk_registered", registered=len(accepted), rejected=len(items) - len(accepted))
    return reports


# --- wire formats -----------------------------------------------------------------------------

_MEMBER_FIELDS = ("id_number", "name", "relation", "living_together", "disability_grade", "disability_kind", "serious_illness", "school_enrolment")
_HOUSEHOLD_FIELDS = ("town", "village", "address", "registered_poor", "ex_poor", "edge", "lonely_elderly")
_BOOL = {"true": True, "1": True, "yes": True, "是": True, "false": False, "0": False, "no": False, "否": False}


def _errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    return [{"field": prefix + ".".join(str(p) for p in e.get("loc", ())), "code": e.get("type", "invalid"), "message": str(e.get("msg", ""))}
            for e in exc.errors()]


def _csv_value(name: str, value: str | None) -> Any:
    if value is None or value == "":
        return None
    if name in ("registered_poor", "ex_poor", "edge", "lonely_elderly", "living_together", "serious_illness"):
        return _BOOL.get(value.strip().lower(), value)
    if name == "disability_grade":
        return int(value) if value.strip().isdigit() else value
    return value


def households_from_csv(text: str) -> list[tuple[list[int], str | None, dict[str, Any] | None, list[dict[str, Any]]]]:
    """Group CSV lines into households: (line numbers, ref, household dict, line errors)."""
    reader = csv.DictReader(io.StringIO(text))
    groups: dict[str, tuple[list[int], dict[str, Any], list[dict[str, Any]]]] = {}
    for line, raw in enumerate(reader, start=2):  # line 1 is the header
        row = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k}
        ref = row.get("household_ref") or f"line-{line}"
        lines, household, errors = groups.setdefault(ref, ([], {}, []))
        lines.append(line)
        if not household:
            household.update({k: _csv_value(k, row.get(k)) for k in _HOUSEHOLD_FIELDS if row.get(k) not in (None, "")})
            household["members"], household["incomes"] = [], []
        member = {k: _csv_value(k, row.get(k)) for k in _MEMBER_FIELDS if row.get(k) not in (None, "")}
        household["members"].append(member)
        if row.get("income_12m"):
            if not member.get("id_number"):
                errors.append({"field": f"line {line}.income_12m", "code": "unknown_member", "message": "income needs the member's id_number"})
            else:
                household["incomes"].append({"source": row.get("income_source") or "wages", "amount": row["income_12m"], "id_number": member["id_number"]})
    return [(lines, ref, household, errors) for ref, (lines, household, errors) in groups.items()]


@router.post("/households:bulk", response_model=BulkReport, openapi_extra={"requestBody": {"content": {
    "application/json": {"schema": {"type": "object", "properties": {"households": {"type": "array", "items": {"type": "object"}}}}},
    "text/csv": {"schema": {"type": "string"}},
}}})
async def bulk_households(request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*WRITERS)),
                          idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Any:
    """Register a batch of households: JSON ``{"households": [{…as POST /households…, "ref"?}]}``
    (≤ 5,000) or CSV (one line per member, see the module notes). Answers a per-row report:
    ``registered`` with the household_id, or ``rejected`` with its errors (the codes of
    ``POST /households``, plus ``duplicate_in_batch``); nothing of a rejected household is
    stored. ``Idempotency-Key`` replays the first report. A body that cannot be parsed is 400
    (``malformed_body`` not UTF-8, ``malformed_json``, ``malformed_csv``) and nothing is stored."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(400, "malformed_body", "the body is not UTF-8") from None
    candidates: list[tuple[int, str | None, dict[str, Any] | None, list[dict[str, Any]]]] = []
    if content_type in ("text/csv", "application/csv"):
        try:
            grouped = households_from_csv(text)
        except csv.Error:  # e.g. a field over the csv module's 131,072-character limit
            raise Problem(400, "malformed_csv", "The body is not readable CSV") from None
        for lines, ref, household, errors in grouped:
            candidates.append((lines[0], ref, household, errors))
        payload: Any = text
    else:
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
            raise Problem(400, "malformed_json", "The body is not valid JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("households"), list) or set(body) - {"households"}:
            raise Problem(422, "validation_failed", 'the body is {"households": [...]}')
        for index, item in enumerate(body["households"], start=1):
            ref = item.pop("ref", None) if isinstance(item, dict) else None
            candidates.append((index, str(ref) if ref is not None else None, item if isinstance(item, dict) else None, []))
        payload = body
    if not candidates:
        raise Problem(422, "empty_batch", "the batch has no households")
    if len(candidates) > MAX_HOUSEHOLDS:
        raise Problem(413, "batch_too_large", f"at most {MAX_HOUSEHOLDS} households per batch")
    reports: list[BulkRowReport] = []
    valid: list[tuple[int, str | None, HouseholdIn]] = []
    for row, ref, data, errors in candidates:
        if data is None:
            reports.append(BulkRowReport(row=row, ref=ref, status="rejected", errors=[{"field": "row", "code": "validation_failed", "message": "not an object"}]))
            continue
        try:
            item = HouseholdIn.model_validate(data)
        except ValidationError as exc:
            reports.append(BulkRowReport(row=row, ref=ref, status="rejected", errors=errors + _errors(exc)))
            continue
        if errors:
            reports.append(BulkRowReport(row=row, ref=ref, status="rejected", errors=errors))
            continue
        valid.append((row, ref, item))
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:/households:bulk", payload=payload)
    async with uow:
        replay = await idem.replay(uow.session)
        if replay is not None:
            return JSONResponse(replay[1], status_code=replay[0])
        if valid:
            reports += await bulk_register(uow=uow, principal=principal, actor=Actor(principal.subject, client_of(request, principal)), items=valid)
        reports.sort(key=lambda r: r.row)
        out = BulkReport(total=len(reports), registered=sum(r.status == "registered" for r in reports),
                         rejected=sum(r.status == "rejected" for r in reports), rows=reports)
        idem.record(uow.session, 200, out.model_dump(mode="json"))
        await uow.commit()
        return out


