"""``GET /api/v1/care/kpis``: the care service's KPIs of the year on one answer (POLICY, Measures 9, 16)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query

from services.care.common import READ_ROLES, Model, today, town_filter
from services.care.placement.schemas import CentralizedRateOut
from services.care.placement.service import centralized_rate
from services.care.visits.schemas import VisitsKpiOut
from services.care.visits.service import visits_kpi
from shared.app import get_uow
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork

router = APIRouter(prefix="/api/v1/care", tags=["kpis"])


class CareKpisOut(Model):
    year: int
    as_of: date
    centralized_rate: CentralizedRateOut
    visits_on_time: VisitsKpiOut


@router.get("/kpis", response_model=CareKpisOut)
async def get_kpis(
    year: int = Query(..., ge=2000, le=2100),
    town: str | None = Query(None),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> CareKpisOut:
    """The year's care KPIs as of its last day (or today, during the year): the centralized rate
    among full-loss tekun persons against its target (R-TK-3, ≥ 50% by year end) and visits on
    time (R-LB-2), per town (``town``) or for the district."""
    async with uow:
        scoped = town_filter(principal, town)
        as_of = min(date(year, 12, 31), today(uow))
        rate = await centralized_rate(uow, as_of, scoped)
        visits = await visits_kpi(uow, year=year, town=scoped)
    return CareKpisOut(year=year, as_of=as_of, centralized_rate=CentralizedRateOut(**rate), visits_on_time=VisitsKpiOut(**visits))
