"""Left-behind registry endpoints (R-LB-1): entries, history, criteria calculator, national export."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from sqlalchemy import select, tuple_

from services.care.common import ID_NUMBER_ROLES, READ_ROLES, WRITE_ROLES, cursor_key, parse_uuid, scope_clauses, today, town_filter
from services.care.leftbehind.models import LeftBehindEntry
from services.care.leftbehind.schemas import ChangeOut, CriteriaOut, CriteriaQuery, EntryIn, EntryOut, EntryPatch, LeaveIn
from services.care.leftbehind.service import change, enter, evaluate, export_rows, history_of, leave, visible_entry
from services.care.persons.service import audit
from shared.app import get_uow
from shared.auth import Principal, authenticated, require_roles
from shared.db import UnitOfWork
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/care", tags=["left-behind"])

CategoryQ = Literal["child", "elderly", "woman"]


async def _out(uow: UnitOfWork, entry: LeftBehindEntry) -> EntryOut:
    out = EntryOut.model_validate(entry)
    out.history = [ChangeOut.model_validate(c) for c in await history_of(uow, entry.id)]
    return out


@router.post("/left-behind:evaluate", response_model=CriteriaOut)
async def evaluate_criteria(
    body: CriteriaQuery = Body(...), uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)
) -> CriteriaOut:
    """Calculator of the left-behind criteria (R-LB-1) for a category on a date; stores nothing.
    Returns ``met``, the ``failures`` (``too_old``, ``too_young``, ``not_female``,
    ``children_not_away``, ``husband_not_away``, ``absence_too_short``) and the trace with the
    parameter versions used."""
    async with uow:
        result = await evaluate(
            uow, category=body.category, sex=body.sex, birth_date=body.birth_date, on=body.on,
            facts=body.facts.model_dump(mode="json"),
        )
    return CriteriaOut(met=result.met, failures=result.failures, trace=result.trace)


@router.post("/left-behind", response_model=EntryOut, status_code=201)
async def post_entry(
    body: EntryIn = Body(...),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> EntryOut:
    """Register a person as a left-behind child, elderly person or woman (三留守, R-LB-1) with the
    facts of the category's criteria. 422 ``criteria_not_met`` (``failures``), ``future_date``;
    409 ``already_registered``, ``person_deceased``."""
    async with uow:
        entry = await enter(
            uow=uow, principal=principal, person_id=body.person_id, category=body.category,
            facts=body.facts.model_dump(mode="json"), entered_on=body.entered_on,
        )
        out = await _out(uow, entry)
        await uow.commit()
    return out


@router.get("/left-behind/export")
async def export(
    town: str | None = Query(None),
    category: CategoryQ | None = Query(None),
    status: Literal["active", "left"] | None = Query(None),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*ID_NUMBER_ROLES)),
) -> Response:
    """The registry as a CSV file for the national management system (全国管理系统): UTF-8 (with
    BOM), Chinese headers, one row per entry with name, ID number, category, town, village,
    situation, dates and status. A town gets its own entries. District staff, town approvers and
    caseworkers only (the file holds full ID numbers). Audited."""
    async with uow:
        scoped = town_filter(principal, town)
        text, count = await export_rows(uow, town=scoped, category=category, status=status)
        audit(uow, principal, "left_behind.export", town=scoped, category=category, rows=count)
        stamp = today(uow).strftime("%Y%m%d")
        await uow.commit()
    filename = f"left-behind-{scoped or '350505'}-{stamp}.csv"
    return Response(
        content=text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/left-behind", response_model=Page[EntryOut])
async def list_entries(
    town: str | None = Query(None),
    category: CategoryQ | None = Query(None),
    status: Literal["active", "left"] | None = Query(None),
    person_id: uuid.UUID | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[EntryOut]:
    """Registry entries by entry date (without history; a town sees its own, a village officer
    its village's)."""
    async with uow:
        query = select(LeftBehindEntry).order_by(LeftBehindEntry.entered_on, LeftBehindEntry.id).limit(page.limit + 1)
        query = query.where(*scope_clauses(principal, town, LeftBehindEntry.town, LeftBehindEntry.village))
        if category is not None:
            query = query.where(LeftBehindEntry.category == category)
        if status is not None:
            query = query.where(LeftBehindEntry.status == status)
        if person_id is not None:
            query = query.where(LeftBehindEntry.person_id == person_id)
        key = cursor_key(page.after, date.fromisoformat, uuid.UUID)
        if key is not None:
            query = query.where(tuple_(LeftBehindEntry.entered_on, LeftBehindEntry.id) > tuple_(*key))
        rows = [EntryOut.model_validate(e) for e in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda e: [e.entered_on.isoformat(), str(e.id)])


@router.get("/left-behind/{entry_id}", response_model=EntryOut)
async def get_entry(
    entry_id: str, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*READ_ROLES))
) -> EntryOut:
    """An entry with its status history (entered, changed, left). Audited read."""
    async with uow:
        entry = await visible_entry(uow, principal, parse_uuid(entry_id, "left-behind entry"))
        out = await _out(uow, entry)
        audit(uow, principal, "left_behind.read", entry.person_id)
        await uow.commit()
    return out


@router.patch("/left-behind/{entry_id}", response_model=EntryOut)
async def patch_entry(
    entry_id: str,
    body: EntryPatch,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> EntryOut:
    """Record changed facts (history ``changed``); they must still meet the criteria. 409
    ``entry_left``; 422 ``criteria_not_met``."""
    async with uow:
        entry = await change(
            uow=uow, principal=principal, entry_id=parse_uuid(entry_id, "left-behind entry"), facts=body.facts,
            on=body.on, note=body.note,
        )
        await uow.session.flush()
        out = await _out(uow, entry)
        await uow.commit()
    return out


@router.post("/left-behind/{entry_id}:leave", response_model=EntryOut)
async def post_leave(
    entry_id: str,
    body: LeaveIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> EntryOut:
    """The person leaves the registry (history ``left``). 409 ``entry_left``; 422
    ``future_date``, ``left_before_entry``."""
    async with uow:
        entry = await leave(
            uow=uow, principal=principal, entry_id=parse_uuid(entry_id, "left-behind entry"), left_on=body.left_on,
            reason=body.reason, note=body.note,
        )
        await uow.session.flush()
        out = await _out(uow, entry)
        await uow.commit()
    return out
