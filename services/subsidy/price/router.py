"""Price-linked subsidy (价格临时补贴, R-PS): calculator, CPI intake by the statistics bureau."""

from __future__ import annotations

import csv
import io
from datetime import date

from fastapi import APIRouter, Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import select

from services.subsidy.common import Month, parse_month
from services.subsidy.price import service
from services.subsidy.price.models import CpiFigure
from services.subsidy.price.schemas import CpiIntakeIn, CpiIntakeOut, CpiMonthOut, PriceEvaluateIn, PriceEvaluateOut
from services.subsidy.runs.models import PaymentRun
from shared.app import get_uow
from shared.auth import DISTRICT_ADMIN, STAFF_ROLES, Principal, authenticated, require_roles, require_scopes
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/subsidy", tags=["price subsidy"])

CSV_TYPES = ("text/csv", "application/csv", "text/plain")


@router.post("/price-subsidy:evaluate", response_model=PriceEvaluateOut)
async def evaluate_price_subsidy(
    body: PriceEvaluateIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated),
) -> PriceEvaluateOut:
    """Price-linked subsidy calculator (R-PS-1..3), storing nothing.

    ``{"month": "2020-03", "cpi_yoy_pct": "4.3", "food_cpi_yoy_pct": "18.3"}`` →
    ``{"triggered": true, "amount_per_person": "61.92", "covers": [...], "trace": {...}}``: triggered
    when CPI ≥ 3.5% or food CPI ≥ 6%; amount = monthly dibao standard × CPI rise (yuan, half-up to
    the fen), × 2 in March–June 2020. With ``person_categories``, ``payments_for_person`` is 0 or 1
    (one payment per person per month). 422 for a malformed month or percentage, or
    ``parameter_missing`` for a month without parameters.
    """
    async with uow:
        result = await service.evaluate(
            uow=uow, month=body.month, cpi_yoy_pct=body.cpi_yoy_pct, food_cpi_yoy_pct=body.food_cpi_yoy_pct,
            person_categories=body.person_categories,
        )
    return PriceEvaluateOut(
        month=body.month, triggered=result.result.triggered, triggered_by=list(result.result.triggered_by),
        amount_per_person=result.result.amount_per_person, covers=list(result.result.covers),
        payments_for_person=result.payments_for_person, trace=result.trace.as_dict(),
    )


def _rows_from_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    required = {"month", "cpi_yoy_pct", "food_cpi_yoy_pct"}
    if reader.fieldnames is None or not required <= set(reader.fieldnames):
        raise Problem(422, "csv_header", "The CSV needs the columns month, cpi_yoy_pct, food_cpi_yoy_pct (optional: checked, released_on)")
    rows = []
    for raw in reader:
        row: dict = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k in required | {"checked", "released_on"}}
        if "checked" in row:
            row["checked"] = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(
                str(row["checked"]).lower(), row["checked"])
        if not row.get("released_on"):
            row.pop("released_on", None)
        rows.append(row)
    return rows


@router.post(
    "/cpi-figures", response_model=CpiIntakeOut,
    openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/CpiIntakeIn"}},
        "text/csv": {"schema": {"type": "string", "example": "month,cpi_yoy_pct,food_cpi_yoy_pct,checked\n2020-03,4.3,18.3,yes\n"}},
    }}},
)
async def receive_cpi_figures(
    request: Request,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_scopes("statistics", roles=(DISTRICT_ADMIN,))),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> CpiIntakeOut:
    """CPI intake (statistics bureau, scope ``statistics``): each month's CPI and food CPI
    year-on-year rise (%), as JSON ``{"items": [...]}`` or CSV
    (``month,cpi_yoy_pct,food_cpi_yoy_pct[,checked][,released_on]``).

    All or nothing: any refused row answers 422 with per-row ``errors`` and nothing is stored.
    A changed figure supersedes the month's current one; 409-like row error ``month_already_paid``
    when a price run for that month exists. Accepts ``Idempotency-Key``.
    """
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in CSV_TYPES:
            text_body = raw.decode("utf-8-sig")
            intake = CpiIntakeIn.model_validate({"items": _rows_from_csv(text_body), "source": "csv"})
            payload = {"csv": text_body}
        else:
            intake = CpiIntakeIn.model_validate_json(raw)
            payload = intake.model_dump(mode="json")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    except UnicodeDecodeError:
        raise Problem(400, "malformed_csv", "The CSV is not UTF-8") from None
    except csv.Error:  # e.g. a field over the csv module's 131,072-character limit
        raise Problem(400, "malformed_csv", "The CSV is not readable") from None
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:/api/v1/subsidy/cpi-figures", payload=payload)
    async with uow:
        replayed = await idem.replay(uow.session)
        if replayed is not None:
            return CpiIntakeOut.model_validate(replayed[1])
        months = [row.month for row in intake.items]
        errors = []
        seen: dict[date, int] = {}
        for index, row in enumerate(intake.items):
            if row.month in seen:
                errors.append({"field": f"items.{index}.month", "code": "duplicate_month", "message": f"{row.month:%Y-%m} appears twice"})
            seen[row.month] = index
        paid = set((await uow.session.scalars(
            select(PaymentRun.month).where(PaymentRun.benefit_group == "price", PaymentRun.month.in_(months))
        )).all())
        for index, row in enumerate(intake.items):
            if row.month in paid:
                current = await service.current_figure(uow, row.month)
                if current is None or (current.cpi_yoy_pct, current.food_cpi_yoy_pct) != (row.cpi_yoy_pct, row.food_cpi_yoy_pct):
                    errors.append({"field": f"items.{index}.month", "code": "month_already_paid",
                                   "message": f"a price run for {row.month:%Y-%m} exists; its figures cannot change"})
        if errors:
            raise Problem(422, "cpi_rows_rejected", f"{len(errors)} row(s) refused; nothing was stored", errors=errors)
        rows = [service.CpiRow(r.month, r.cpi_yoy_pct, r.food_cpi_yoy_pct, r.released_on, r.checked)
                for r in intake.items if r.month not in paid]
        counts = await service.ingest(uow=uow, principal=principal, rows=rows, source=intake.source)
        counts["unchanged"] += len(intake.items) - len(rows)
        out = CpiIntakeOut(**counts)
        idem.record(uow.session, 200, out.model_dump(mode="json"))
        await uow.commit()
    return out


@router.get("/cpi-figures", response_model=Page[CpiMonthOut])
async def list_cpi_figures(
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*STAFF_ROLES)),
) -> Page[CpiMonthOut]:
    """The current CPI figure of every month received (newest month first), each with its verdict
    (triggered?, amount per person, who is covered) and the date it must be paid by (R-PS-1)."""
    async with uow:
        query = select(CpiFigure).where(CpiFigure.superseded_at.is_(None))
        if page.after:
            query = query.where(CpiFigure.month < parse_month(page.after[0]))
        figures = (await uow.session.scalars(query.order_by(CpiFigure.month.desc()).limit(page.limit + 1))).all()
        items = [CpiMonthOut.model_validate(await service.month_view(uow, f)) for f in figures]
    return make_page(items, page.limit, key=lambda m: [f"{m.month:%Y-%m}"])


@router.get("/cpi-figures/{month}", response_model=CpiMonthOut)
async def get_cpi_month(
    month: str, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(require_roles(*STAFF_ROLES)),
) -> CpiMonthOut:
    """One month's current CPI figure and its price-subsidy verdict; 404 if not received."""
    try:
        parsed: Month = parse_month(month)
    except ValueError:
        raise Problem(422, "month_format", "month must be YYYY-MM") from None
    async with uow:
        figure = await service.current_figure(uow, parsed)
        if figure is None:
            raise not_found("CPI figure")
        return CpiMonthOut.model_validate(await service.month_view(uow, figure))

