"""``/api/v1/eligibility/departments/…``: batches from other departments' systems (client
credentials with a scope), as JSON ``{"rows": [...]}`` or CSV (``Content-Type: text/csv``, one
header line with the row's field names). Each row is validated and applied on its own; the answer
is a per-row receipt (``accepted`` / ``rejected`` for the row's own content: format, ID number
checksum, a date after today) and nothing of a rejected row is stored. The receipt does not say
whether a person is in the assistance registry nor carry internal ids: a department must not be
able to test membership. Staff (district administrator, auditor) read the full outcome per row —
``applied``, ``duplicate``, ``unknown_person`` … — in ``/batches``. ``Idempotency-Key`` replays
the first receipt."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import select

from services.eligibility.access import client_of
from services.eligibility.departments import service
from services.eligibility.departments.models import DepartmentBatch
from services.eligibility.departments.schemas import (
    BatchReceipt,
    BatchReport,
    DeathRow,
    DisabilityCertificateRow,
    IncomeRow,
    MedicalExpenseRow,
    MoveRow,
    RowReceipt,
    RowReport,
)
from services.eligibility.registry.service import Actor
from shared.app import get_uow
from shared.auth import AUDITOR, DISTRICT_ADMIN, Principal, require_roles, require_scopes
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/eligibility/departments", tags=["departments"])
log = structlog.get_logger("eligibility.departments")
MAX_ROWS = 10_000

Applier = Callable[[UnitOfWork, Actor, Any], Awaitable[RowReport]]


async def _rows(request: Request) -> tuple[list[dict[str, Any]], Any]:
    """The batch's rows from a JSON or CSV body (and the payload for the idempotency hash).

    Problems: 400 ``malformed_body`` / ``malformed_json`` / ``malformed_csv`` for a body that cannot
    be parsed (e.g. JSON nested too deep, a CSV field over 131,072 characters), 415, 422
    ``empty_batch``, 413 ``batch_too_large``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(400, "malformed_body", "the body is not UTF-8") from None
    if content_type in ("text/csv", "application/csv"):
        reader = csv.DictReader(io.StringIO(text))
        try:
            rows = [{k.strip(): (v.strip() if isinstance(v, str) and v.strip() != "" else None) for k, v in r.items() if k} for r in reader]
        except csv.Error:  # e.g. a field over the csv module's 131,072-character limit
            raise Problem(400, "malformed_csv", "The body is not readable CSV") from None
        payload: Any = text
    elif content_type.endswith("json") or not content_type:
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
            raise Problem(400, "malformed_json", "The body is not valid JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list) or set(body) - {"rows"}:
            raise Problem(422, "validation_failed", 'the body is {"rows": [...]}')
        rows = body["rows"]
        payload = body
    else:
        raise Problem(415, "unsupported_media_type", "send application/json or text/csv")
    if not rows:
        raise Problem(422, "empty_batch", "the batch has no rows")
    if len(rows) > MAX_ROWS:
        raise Problem(413, "batch_too_large", f"at most {MAX_ROWS} rows per batch")
    return rows, payload


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "row"
        out.append({"field": loc, "code": err.get("type", "invalid"), "message": str(err.get("msg", "invalid"))})
    return out


async def _batch(kind: str, model: type[BaseModel], applier: Applier, request: Request, uow: UnitOfWork, principal: Principal, key: str | None) -> Any:
    rows, payload = await _rows(request)
    idem = Idempotency(key, scope=f"{principal.subject}:POST:departments/{kind}", payload=payload)
    adapter = TypeAdapter(model)
    actor = Actor(principal.subject, client_of(request, principal))
    async with uow:
        replay = await idem.replay(uow.session)
        if replay is not None:
            return JSONResponse(replay[1], status_code=replay[0])
        reports: list[RowReport] = []
        for index, raw in enumerate(rows, start=1):
            reference = raw.get("reference") if isinstance(raw, dict) else None
            try:
                row = adapter.validate_python(raw)
            except ValidationError as exc:
                reports.append(RowReport(row=index, reference=reference, status="rejected", errors=_errors(exc), answered="rejected"))
                continue
            try:
                async with uow.session.begin_nested():
                    report = await applier(uow, actor, row)
            except service.RowRejected as exc:
                reports.append(RowReport(row=index, reference=reference, status="rejected", errors=[exc.error],
                                         answered="rejected" if exc.told else "accepted"))
                continue
            reports.append(report.model_copy(update={"row": index, "reference": reference, "answered": "accepted"}))
        batch = DepartmentBatch(
            id=uuid.uuid4(), kind=kind, client=principal.subject, received_at=uow.now(), total=len(reports),
            accepted=sum(r.status != "rejected" for r in reports), rejected=sum(r.status == "rejected" for r in reports),
            report=[r.model_dump(mode="json") for r in reports],
        )
        uow.session.add(batch)
        out = _receipt(batch, reports)
        idem.record(uow.session, 200, out.model_dump(mode="json"))
        await uow.commit()
        # Outcomes for the staff's eyes are logged by row number and reference, never by ID number.
        for r in reports:
            if r.status == "rejected":
                log.info("eligibility.department.row_rejected", kind=kind, batch_id=str(batch.id), row=r.row,
                         reference=r.reference, code=r.errors[0].get("code") if r.errors else None, answered=r.answered)
        log.info("eligibility.department.batch", kind=kind, batch_id=str(batch.id), client=principal.subject, total=batch.total,
                 applied=sum(r.status == "applied" for r in reports), duplicates=sum(r.status == "duplicate" for r in reports),
                 rejected=batch.rejected, told_rejected=out.rejected)
        return out


def _receipt(batch: DepartmentBatch, reports: list[RowReport]) -> BatchReceipt:
    """The department's answer: accepted / rejected (row content) per row, no registry outcome,
    no internal ids (M4: a department must not learn who is in the assistance registry)."""
    rows = [RowReceipt(row=r.row, reference=r.reference, status=r.answered or "accepted",
                       errors=r.errors if r.answered == "rejected" else []) for r in reports]
    return BatchReceipt(batch_id=batch.id, kind=batch.kind, received_at=batch.received_at, total=batch.total,
                        accepted=sum(r.status == "accepted" for r in rows), rejected=sum(r.status == "rejected" for r in rows), rows=rows)


def _report(batch: DepartmentBatch) -> BatchReport:
    rows = [RowReport.model_validate(r) for r in batch.report]
    return BatchReport(
        batch_id=batch.id, kind=batch.kind, received_at=batch.received_at, total=batch.total,
        applied=sum(r.status == "applied" for r in rows), duplicates=sum(r.status == "duplicate" for r in rows),
        rejected=sum(r.status == "rejected" for r in rows), rows=rows,
    )


_CSV_OR_JSON = {"requestBody": {"content": {
    "application/json": {"schema": {"type": "object", "properties": {"rows": {"type": "array", "items": {"type": "object"}}}}},
    "text/csv": {"schema": {"type": "string"}},
}}}


@router.post("/deaths", response_model=BatchReceipt, openapi_extra=_CSV_OR_JSON)
async def deaths(request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_scopes("public_security", roles=(DISTRICT_ADMIN,))),
                 idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Any:
    """Deaths from public security (rows: ``id_number``, ``died_on``, ``reference``). Every
    benefit of the person ends with the month of death as last month (``benefit.ended``, reason
    ``deceased``); a household dibao is reassessed for the others from the next month;
    ``eligibility.person.deceased`` and ``household.changed`` are emitted. Rejected rows (told):
    ``future_date``, ID number codes; ``unknown_person`` is in the staff's batch record only."""
    return await _batch("deaths", DeathRow, service.apply_death, request, uow, principal, idempotency_key)


@router.post("/moves", response_model=BatchReceipt, openapi_extra=_CSV_OR_JSON)
async def moves(request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_scopes("public_security", roles=(DISTRICT_ADMIN,))),
                idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Any:
    """Household-registration moves from public security (rows: ``id_number``, ``moved_on``,
    ``to_town``, ``to_village``, ``reference``; no ``to_town`` = out of the district, which ends
    the person's benefits with reason ``moved_away``). ``eligibility.person.moved``."""
    return await _batch("moves", MoveRow, service.apply_move, request, uow, principal, idempotency_key)


@router.post("/disability-certificates", response_model=BatchReceipt, openapi_extra=_CSV_OR_JSON)
async def certificates(request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_scopes("disabled_federation", roles=(DISTRICT_ADMIN,))),
                       idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Any:
    """Disability certificates from the disabled persons' federation (rows: ``id_number``,
    ``certificate_number``, ``disability_grade`` 1–4, ``disability_kind``, ``issued_on``,
    ``revoked``); the member's record changes (``household.changed``)."""
    return await _batch("disability_certificates", DisabilityCertificateRow, service.apply_certificate, request, uow, principal, idempotency_key)


@router.post("/medical-expenses", response_model=BatchReceipt, openapi_extra=_CSV_OR_JSON)
async def medical_expenses(request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_scopes("medical_insurance", roles=(DISTRICT_ADMIN,))),
                           idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Any:
    """Out-of-pocket medical expenses from medical insurance (rows: ``id_number``, ``month``
    YYYY-MM, ``amount`` yuan, ``reference`` settlement id — a reference already received is a
    ``duplicate`` in the staff's batch record, ``accepted`` to the sender). The household becomes monitored (R-RM-1) and is re-evaluated (R-RM-2)."""
    return await _batch("medical_expenses", MedicalExpenseRow,
                        lambda uow, actor, row: service.apply_medical_expense(uow, actor, row, "medical_insurance"),
                        request, uow, principal, idempotency_key)


@router.post("/incomes", response_model=BatchReceipt, openapi_extra=_CSV_OR_JSON)
async def incomes(request: Request, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_scopes("statistics", roles=(DISTRICT_ADMIN,))),
                  idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Any:
    """Income data (scope ``statistics``; rows: ``id_number``, ``source``, ``amount``,
    ``first_month``, ``last_month``, ``reference``). The household becomes monitored and is
    re-evaluated (R-RM-1, R-RM-3)."""
    return await _batch("incomes", IncomeRow,
                        lambda uow, actor, row: service.apply_income(uow, actor, row, "statistics"),
                        request, uow, principal, idempotency_key)


@router.get("/batches", response_model=Page[BatchReport])
async def list_batches(kind: str | None = None, page: PageParams = Depends(page_params), uow: UnitOfWork = Depends(get_uow),
                       _: Principal = Depends(require_roles(DISTRICT_ADMIN, AUDITOR))) -> Page[BatchReport]:
    """Batches received, newest first, with their per-row reports."""
    async with uow:
        query = select(DepartmentBatch).order_by(DepartmentBatch.received_at.desc(), DepartmentBatch.id.desc()).limit(page.limit + 1)
        if kind:
            query = query.where(DepartmentBatch.kind == kind)
        if page.after:
            from datetime import datetime

            from sqlalchemy import tuple_

            query = query.where(tuple_(DepartmentBatch.received_at, DepartmentBatch.id) < (datetime.fromisoformat(str(page.after[0])), uuid.UUID(str(page.after[1]))))
        rows = [_report(b) for b in (await uow.session.scalars(query)).all()]
        return make_page(rows, page.limit, key=lambda b: [b.received_at.isoformat(), str(b.batch_id)])


@router.get("/batches/{batch_id}", response_model=BatchReport)
async def get_batch(batch_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(require_roles(DISTRICT_ADMIN, AUDITOR))) -> BatchReport:
    async with uow:
        batch = await uow.session.get(DepartmentBatch, batch_id)
        if batch is None:
            raise not_found("batch")
        return _report(batch)
