"""``/api/v1/subsidy/runs`` and ``/api/v1/subsidy/bank-returns``: monthly payment runs (R-DS-2/3)."""

from __future__ import annotations

import csv
import io
import uuid

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from services.subsidy.audit import record_read
from services.subsidy.common import Month, parse_month
from services.subsidy.runs import rules, service
from services.subsidy.runs.schemas import (
    BankReturnIn,
    BankReturnOut,
    BenefitGroup,
    DroppedSummary,
    LineOut,
    RunCreate,
    RunOut,
    RunReport,
)
from shared.app import get_uow
from shared.auth import (
    AUDITOR,
    DISTRICT_ADMIN,
    DISTRICT_APPROVER,
    TOWN_APPROVER,
    TOWN_CASEWORKER,
    Principal,
    require_roles,
    require_scopes,
)
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/subsidy", tags=["payment runs"])

RUN_READERS = (DISTRICT_ADMIN, DISTRICT_APPROVER, AUDITOR, TOWN_APPROVER, TOWN_CASEWORKER)


def _wake(request: Request) -> None:
    wakeup = getattr(request.app.state, "run_wakeup", None)
    if wakeup is not None:
        wakeup.set()


@router.post("/runs", response_model=RunOut, status_code=201)
async def create_run(
    body: RunCreate,
    request: Request,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> RunOut:
    """Create the month's run of a benefit group (district administrator).

    ``{"month": "2020-06", "benefit_group": "assistance"}`` → 201, status ``created``; the snapshot
    and cross-check follow in the background (status ``checked``; poll the run). One run per month
    and group: a second is 409 ``run_exists`` (``run_id`` names the first), also under concurrency.
    Other errors: 422 ``month_format`` / ``month_in_future`` / ``parameter_missing``; 409
    ``roster_rebuilding``; price runs 409 ``cpi_missing`` / ``cpi_not_checked`` /
    ``price_not_triggered``. Accepts ``Idempotency-Key``.
    """
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:/api/v1/subsidy/runs",
                       payload=body.model_dump(mode="json"))
    async with uow:
        replayed = await idem.replay(uow.session)
        if replayed is not None:
            return RunOut.model_validate(replayed[1])
        run = await service.create_run(uow=uow, principal=principal, month=body.month, group=body.benefit_group,
                                       bus=getattr(request.app.state, "bus", None))
        out = RunOut.of(run)
        idem.record(uow.session, 201, out.model_dump(mode="json"))
        await uow.commit()
    _wake(request)
    return out


@router.get("/runs", response_model=Page[RunOut])
async def list_runs(
    month: str | None = Query(None, description="YYYY-MM"),
    benefit_group: BenefitGroup | None = None,
    year: int | None = Query(None, ge=2000, le=2100, description="only runs whose month falls in that year"),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*RUN_READERS)),
) -> Page[RunOut]:
    """Runs, newest month first (aggregates only: no personal data), paginated (``limit``,
    ``cursor``).

    Filters, combined with AND: ``month`` (``YYYY-MM``), ``benefit_group``, ``year`` (2000–2100:
    the runs paying a month of that calendar year, ``YYYY-01`` … ``YYYY-12``; with ``month`` of
    another year the list is empty). 422 problem+json: ``month_format``; for ``year``
    ``int_parsing`` (not an integer), ``greater_than_equal`` / ``less_than_equal`` (out of range)."""
    parsed = _month_query(month)
    async with uow:
        after = (str(page.after[0]), str(page.after[1])) if page.after else None
        runs = await service.list_runs(uow, limit=page.limit, after=after, month=parsed, group=benefit_group, year=year)
        items = [RunOut.of(r) for r in runs]
    return make_page(items, page.limit, key=lambda r: [r.month.isoformat(), str(r.id)])


def _month_query(value: str | None) -> Month | None:
    if value is None:
        return None
    try:
        return parse_month(value)
    except ValueError:
        raise Problem(422, "month_format", "month must be YYYY-MM") from None


@router.get("/runs/{run_id}", response_model=RunOut)
async def get_run(run_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(require_roles(*RUN_READERS))) -> RunOut:
    """One run with its line counts by status; 404 ``not_found``."""
    async with uow:
        run = await service.get_run(uow, run_id)
        return RunOut.of(run, await service.status_counts(uow, run))


@router.get("/runs/{run_id}/report", response_model=RunReport)
async def run_report(run_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(require_roles(*RUN_READERS))) -> RunReport:
    """The cross-check report (数据比对, R-DS-2): dropped lines by reason, rule and stage
    (``snapshot`` or ``bank_file``); the lines themselves: ``GET …/lines?status=dropped``."""
    async with uow:
        run = await service.get_run(uow, run_id)
        summary = await service.drop_summary(uow, run_id)
        return RunReport(run=RunOut.of(run, await service.status_counts(uow, run)),
                         dropped=[DroppedSummary(**s) for s in summary])


@router.get("/runs/{run_id}/lines", response_model=Page[LineOut])
async def run_lines(
    run_id: uuid.UUID,
    request: Request,
    status: str | None = Query(None, pattern="^(payable|dropped|paid|failed)$"),
    reason: str | None = Query(None, max_length=40),
    town: str | None = Query(None, max_length=9),
    person_id: str | None = Query(None, max_length=64),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*RUN_READERS)),
) -> Page[LineOut]:
    """A run's lines (by id), filtered by status, drop reason, town or person. Personal data:
    names and accounts masked, every read audited (one row per person and payee shown, see
    ``GET /api/v1/subsidy/audit-log``); a town user sees only its own town's lines."""
    if not principal.district_wide:
        if town is not None and town != principal.town:
            return Page(items=[], next_cursor=None)
        town = principal.town or "-"
    async with uow:
        run = await service.get_run(uow, run_id)
        after = int(page.after[0]) if page.after else None
        lines = await service.list_lines(uow, run, limit=page.limit, after=after, status=status, reason=reason,
                                         town=town, person_id=person_id)
        shown = lines[:page.limit]
        people = dict.fromkeys(pid for line in shown for pid in (line.person_id, line.payee_id) if pid)
        known_reason = reason if reason in rules.DROP_REASONS else (reason and "other")  # free text stays out
        record_read(uow.session, request, principal, at=uow.now(), action="subsidy.run.lines.read", resource=f"run:{run_id}",
                    records=[("person", pid) for pid in people],
                    detail=f"status={status} reason={known_reason} town={town} person={'yes' if person_id else 'no'} n={len(shown)}")
        await uow.commit()
    issued = run.status in ("issued", "reconciled")
    return make_page([LineOut.of(line, issued=issued) for line in lines], page.limit, key=lambda l: [l.id])


@router.post("/runs/{run_id}:approve", response_model=RunOut)
async def approve_run(
    run_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(DISTRICT_APPROVER, DISTRICT_ADMIN)),
) -> RunOut:
    """District approval of a checked run; repeating it is harmless. 409 ``run_not_checked``."""
    async with uow:
        run = await service.approve_run(uow=uow, principal=principal, run_id=run_id)
        await uow.commit()
        return RunOut.of(run)


@router.post("/runs/{run_id}/bank-file", response_model=RunOut)
async def issue_bank_file(
    run_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> RunOut:
    """Issue the bank file of an approved run (社会化发放): deaths and ended benefits reported since
    the snapshot drop their lines first (R-DS-2), then the file's count and total are frozen.
    Repeating it is harmless. 409 ``run_not_approved``. Download: ``GET`` on the same path."""
    async with uow:
        run = await service.issue_bank_file(uow=uow, principal=principal, run_id=run_id)
        await uow.commit()
        return RunOut.of(run)


@router.get("/runs/{run_id}/bank-file", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "account,name,amount,reference + TOTAL line"}})
async def download_bank_file(
    run_id: uuid.UUID, request: Request, uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_scopes("bank", roles=(DISTRICT_ADMIN,))),
) -> StreamingResponse:
    """The bank file as CSV (``account,name,amount,reference``; names masked 王*英; last line
    ``TOTAL,<lines>,<amount>,<run code>``), streamed. 409 ``run_not_issued`` before issue. Audited."""
    async with uow:
        run = await service.get_run(uow, run_id)
        if run.status not in ("issued", "reconciled"):
            raise Problem(409, "run_not_issued", "The bank file of this run has not been issued")
        record_read(uow.session, request, principal, at=uow.now(), action="subsidy.bank_file.read", resource=f"run:{run_id}",
                    records=[("run", str(run_id))])
        await uow.commit()
    filename = f"{rules.run_code(run.month, run.benefit_group)}.csv"
    return StreamingResponse(
        service.stream_bank_file(request.app.state.engine, run), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _return_rows_from_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"reference", "status"} <= {f.strip() for f in reader.fieldnames}:
        raise Problem(422, "csv_header", "The CSV needs the columns reference, status (paid or failed), reason")
    rows = []
    for raw in reader:
        row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k and k.strip() in ("reference", "status", "reason")}
        if not row.get("reason"):
            row.pop("reason", None)
        rows.append(row)
    return rows


@router.post(
    "/bank-returns", response_model=BankReturnOut,
    openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/BankReturnIn"}},
        "text/csv": {"schema": {"type": "string", "example": "reference,status,reason\nQGS000000000001,paid,\n"}},
    }}},
)
async def receive_bank_return(
    request: Request,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_scopes("bank", roles=(DISTRICT_ADMIN,))),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> BankReturnOut:
    """A bank return file (scope ``bank``): JSON ``{"rows": [{reference, status, reason}]}`` or CSV
    ``reference,status,reason``; status ``paid`` or ``failed`` (with a reason).

    All or nothing: unknown references (reported in ``unknown_references``) or contradictions make
    it 422 ``bank_return_rejected`` and change nothing. Accepts ``Idempotency-Key``. Emits
    ``subsidy.payment.paid`` / ``subsidy.payment.failed``; failed lines go into the next run.
    """
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in ("text/csv", "application/csv", "text/plain"):
            text_body = raw.decode("utf-8-sig")
            body = BankReturnIn.model_validate({"rows": _return_rows_from_csv(text_body)})
        else:
            body = BankReturnIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    except UnicodeDecodeError:
        raise Problem(400, "malformed_csv", "The CSV is not UTF-8") from None
    except csv.Error:  # e.g. a field over the csv module's 131,072-character limit
        raise Problem(400, "malformed_csv", "The CSV is not readable") from None
    payload = body.model_dump(mode="json")
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:/api/v1/subsidy/bank-returns", payload=payload)
    rows = [service.ReturnRow(i, r.reference.strip(), r.status, r.reason) for i, r in enumerate(body.rows)]
    async with uow:
        replayed = await idem.replay(uow.session)
        if replayed is not None:
            return BankReturnOut.model_validate(replayed[1])
        result = await service.ingest_bank_return(uow=uow, principal=principal, rows=rows, body_hash=service.hash_body(raw))
        out = BankReturnOut(**result)
        idem.record(uow.session, 200, out.model_dump(mode="json"))
        await uow.commit()
    return out

