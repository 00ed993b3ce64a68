"""``/api/v1/reports``, served by the gateway itself: the KPI report and the household chain."""

from __future__ import annotations

from typing import Literal

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from gateway.ratelimit import enforce_rate_limit
from gateway.reports import kpis, service
from gateway.reports.export import report_csv
from gateway.reports.schemas import Chain, KpiReport
from shared.app import get_uow
from shared.auth import Principal, authenticated, bearer_token
from shared.calendar import TZ
from shared.db import UnitOfWork
from shared.pagination import PageParams, page_params

log = structlog.get_logger("gateway.reports")
router = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[Depends(enforce_rate_limit)])


@router.get("/kpis", response_model=KpiReport, responses={200: {"content": {"text/csv": {}}}})
async def kpi_report(
    request: Request,
    year: int = Query(ge=2000, le=2100, description="e.g. 2020"),
    town: str | None = Query(None, max_length=20, description="a town's division code, e.g. 350505100"),
    format: Literal["json", "csv"] = Query("json", description="csv: text/csv (UTF-8 with BOM) for Excel"),
    principal: Principal = Depends(authenticated),
) -> KpiReport | Response:
    """The year's KPIs on one page (POLICY.md measures 9 and 16), per town and for the district:
    dibao coverage (低保覆盖率) and per-capita benefit growth against +12 % (R-DB-8), relief SLA
    compliance (R-TR-2) and reserve-fund usage against 90 % (R-TR-4), centralized rate against
    50 % (R-TK-3), houses accepted against 50 (R-HS-1), visits on time (R-LB-2), wishes
    published / adopted / fulfilled against 5 per village (505, R-MW).

    Each service computes its own figures (asked in parallel with the caller's token); a service
    that does not answer makes its KPIs null and ``sources.<service>`` ``unavailable`` (still
    200). District roles get the district then every town (``town``: that town only); town staff
    their own town (404 for another). Errors: 401, 403 ``forbidden``, 404 ``not_found``, 422
    ``unknown_town`` or a bad ``year`` / ``format``."""
    scope = kpis.report_scope(principal, town)
    settings = request.app.state.settings
    answers = await kpis.fetch(
        request.app.state.upstreams, kpis.calls_for(year, scope), token=bearer_token(request) or "",
        correlation_id=getattr(request.state, "correlation_id", None),
        timeout=settings.report_source_timeout_seconds,
    )
    areas, sources = kpis.merge(answers, scope)
    report = KpiReport(
        year=year, generated_at=request.app.state.clock.now().astimezone(TZ), areas=areas, sources=sources,
    )
    log.info("gateway.reports.kpis", year=year, town=scope.town,
             unavailable=sorted(s for s, state in sources.items() if state != "ok"))
    if format == "csv":
        name = f"kpis-{year}{'-' + scope.town if scope.town else ''}.csv"
        return Response(report_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return report


@router.get("/households/{household_id}/chain", response_model=Chain)
async def household_chain(
    household_id: str = Path(min_length=1, max_length=64),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(authenticated),
) -> Chain:
    """The household assistance chain (一户一条救助链): every decision, benefit, relief case,
    payment, assessment, placement, visit and wish of one household across the five services,
    oldest first, built from their events (never by calling them now). Items: ``occurred_at``,
    ``service``, ``type``, ``subject``, a short Chinese ``summary`` and non-personal ``data``
    (amounts in yuan, months, statuses, ids). Paginated (``limit``, ``cursor``).

    District roles see every household; town staff those of their own town. Errors: 401, 403
    ``forbidden`` (other roles), 404 ``not_found`` (unknown, or another town's household),
    422 ``invalid_cursor``."""
    service.ensure_chain_reader(principal)
    async with uow:
        return await service.household_chain(uow.session, household_id=household_id, principal=principal, page=page)
