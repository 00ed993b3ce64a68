"""``GET /api/v1/eligibility/kpis``: dibao coverage and per-capita benefit growth (R-DB-8) per
town and for the district."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Query

from services.eligibility import figures
from services.eligibility.kpis import rules, service
from services.eligibility.kpis.schemas import KpiArea, KpisOut
from shared.app import get_uow
from shared.auth import STAFF_ROLES, Principal, require_scopes
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.regions import TOWNS, is_town

router = APIRouter(prefix="/api/v1/eligibility", tags=["kpis"])


def area_out(area: service.AreaFigures, target: Decimal) -> KpiArea:
    current = rules.per_capita_benefit(area.current)
    previous = rules.per_capita_benefit(area.previous)
    growth = rules.growth_ratio(current, previous)
    return KpiArea(
        town=area.code, town_name=area.name, registered_population=area.registered_population,
        dibao_households=area.households, dibao_members=area.members,
        coverage_rate=rules.coverage_rate(area.members, area.registered_population),
        per_capita_benefit=rules.yuan_text(current), per_capita_benefit_previous=rules.yuan_text(previous),
        benefit_growth=rules.ratio_text(growth), growth_target=figures.ratio_text(target),
        meets_growth_target=rules.meets_target(growth, target),
    )


@router.get("/kpis", response_model=KpisOut)
async def eligibility_kpis(
    year: int = Query(ge=2000, le=2100),
    town: str | None = Query(None, max_length=20),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_scopes("statistics", roles=STAFF_ROLES)),
) -> KpisOut:
    """R-DB-8 KPIs of ``year`` per town and for the district (staff; the statistics bureau's
    client): dibao coverage (低保覆盖率 = dibao and single-person members covered in the month of
    ``as_of`` / the town's registered population of the year, percent) and per-capita benefit
    growth (人均补差比增12%): the person-month weighted average monthly benefit per person of the
    year's months up to ``as_of`` (yuan) over the previous year's, against the
    ``benefit_growth_target`` parameter (1.12). ``as_of`` = min(31 December, today). Figures come
    from the service's own benefit history (amounts by effective month, members, last month).

    A town user gets its own town (its ``district`` = that town's figures); ``town`` narrows the
    list. Errors: 422 ``unknown_town``, 404 for another town's code, 422 ``parameter_missing``
    for a year no growth target covers."""
    if town is not None:
        if not is_town(town):
            raise Problem(422, "unknown_town", f"unknown town (镇/街道) division code: {town}")
        principal.ensure_town(town, "town")
    codes = [t.code for t in TOWNS if principal.can_see_town(t.code) and (town is None or t.code == town)]
    async with uow:
        as_of, towns = await service.town_figures(uow, year=year, towns=codes)
        target = await service.growth_target(uow, as_of)
    return KpisOut(
        year=year, as_of=as_of, towns=[area_out(a, target) for a in towns],
        district=area_out(service.district_of(towns), target),
    )
