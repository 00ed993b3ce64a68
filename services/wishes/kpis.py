"""``GET /api/v1/wishes/kpis``: the "505" campaign's KPIs of a year per town and for the district
(POLICY.md, "KPIs on one page": wishes published / adopted / fulfilled of 505, R-MW)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import extract, func, select

from services.wishes import rules
from services.wishes.board.service import ADOPTED, FULFILLED
from services.wishes.campaigns.models import Campaign, Wish
from services.wishes.deps import unit_of_work
from services.wishes.parameters.service import PARAMETERS, in_force
from shared import regions
from shared.auth import AUDITOR, DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem

router = APIRouter(prefix="/api/v1/wishes", tags=["kpis"])

#: Staff who read the KPIs: district roles and auditors everything, town staff their own town.
KPI_ROLES = (DISTRICT_ADMIN, DISTRICT_APPROVER, AUDITOR, TOWN_APPROVER, TOWN_CASEWORKER)


class WishKpiOut(BaseModel):
    """One town's (or the district's) campaign figures of the year. ``target`` = ``villages`` ×
    the campaign's ``village_quota`` (5; 505 for the district's 101 villages, R-MW-1);
    ``published``: wishes put on the public board (R-MW-2, any status from published on);
    ``adopted`` (认领): fully pledged and not fallen back by an expired pledge (R-MW-3/4), or
    further on; ``fulfilled``: receipt confirmed (R-MW-4). Public board figures only."""

    town: str
    town_name: str
    villages: int
    target: int
    published: int
    adopted: int
    fulfilled: int


class WishKpisOut(BaseModel):
    year: int
    towns: list[WishKpiOut]
    district: WishKpiOut


async def _village_quota(uow: UnitOfWork, year: int) -> int:
    """The quota of the year's latest campaign; without a campaign, the parameter in force on
    1 January (its default when none is)."""
    latest = await uow.session.scalar(
        select(Campaign.village_quota).where(extract("year", Campaign.starts_on) == year)
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc()).limit(1)
    )
    if latest is not None:
        return int(latest)
    try:
        return (await in_force(uow.session, "village_quota", date(year, 1, 1))).value
    except Problem:
        return PARAMETERS["village_quota"].default


@router.get("/kpis", response_model=WishKpisOut)
async def wish_kpis(
    year: int = Query(ge=2000, le=2100, description="campaigns starting in this year"),
    town: str | None = Query(None, max_length=20, description="a town's division code"),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*KPI_ROLES)),
) -> WishKpisOut:
    """Wishes published, adopted and fulfilled in the campaign(s) starting in ``year``, per town
    and for the district, against the target of 5 per village (微心愿 "505", R-MW-1..4). Town
    staff get their own town (404 for another); ``district`` sums the towns listed. Errors: 401,
    403 ``forbidden``, 404 ``not_found``, 422 ``unknown_town``."""
    if town is not None:
        if not regions.is_town(town):
            raise Problem(422, "unknown_town", f"unknown town (镇/街道) division code: {town}")
        principal.ensure_town(town, "town")
    towns = [t for t in regions.TOWNS if principal.can_see_town(t.code) and (town is None or t.code == town)]
    async with uow:
        quota = await _village_quota(uow, year)
        rows = (await uow.session.execute(
            select(
                Wish.town,
                func.count().filter(Wish.status.in_(rules.PUBLIC_STATUSES)),
                func.count().filter(Wish.status.in_(ADOPTED)),
                func.count().filter(Wish.status.in_(FULFILLED)),
            )
            .join(Campaign, Campaign.id == Wish.campaign_id)
            .where(extract("year", Campaign.starts_on) == year, Wish.town.in_([t.code for t in towns]))
            .group_by(Wish.town)
        )).all()
    counts = {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows}
    items = []
    for t in towns:
        published, adopted, fulfilled = counts.get(t.code, (0, 0, 0))
        villages = len(regions.villages_of(t.code))
        items.append(WishKpiOut(town=t.code, town_name=t.name, villages=villages, target=villages * quota,
                                published=published, adopted=adopted, fulfilled=fulfilled))
    villages = sum(i.villages for i in items)
    district = WishKpiOut(
        town=regions.DISTRICT.code, town_name=regions.DISTRICT.name, villages=villages,
        target=rules.campaign_target(quota, villages), published=sum(i.published for i in items),
        adopted=sum(i.adopted for i in items), fulfilled=sum(i.fulfilled for i in items),
    )
    return WishKpisOut(year=year, towns=items, district=district)
