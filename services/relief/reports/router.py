"""``GET /api/v1/relief/kpis``: per town and district, the relief KPIs of a year."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from services.relief.cases import service as cases
from services.relief.funds import service as funds
from services.relief.funds.rules import meets_usage_target, usage_rate
from services.relief.parameters.service import policy_on
from shared.app import get_uow
from shared.auth import AUDITOR, DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, Principal, require_scopes
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.money import Yuan
from shared.regions import DISTRICT, TOWNS, is_town

router = APIRouter(prefix="/api/v1/relief", tags=["reports"])


class KpiOut(BaseModel):
    """One town's (or the district's) relief KPIs for ``year``.

    R-TR-4: ``reserve_allocated`` (allocation + top-ups, yuan), ``reserve_paid``,
    ``usage_rate`` = paid / allocated (ratio, 4 places) against ``usage_target`` (0.90).
    R-TR-2: emergency cases accepted in the year by SLA state now; ``sla_compliance_rate`` =
    met / (met + breached).
    """

    town: str
    town_name: str
    reserve_allocated: Yuan
    reserve_paid: Yuan
    usage_rate: str | None
    usage_target: str
    meets_usage_target: bool | None
    sla_met: int
    sla_breached: int
    sla_on_track: int
    sla_at_risk: int
    sla_compliance_rate: str | None


class KpisOut(BaseModel):
    year: int
    towns: list[KpiOut]
    district: KpiOut


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.4f}"


def _compliance(met: int, breached: int) -> str | None:
    if met + breached == 0:
        return None
    return f"{(Decimal(met) / Decimal(met + breached)).quantize(Decimal('0.0001'), ROUND_HALF_UP):.4f}"


@router.get("/kpis", response_model=KpisOut)
async def relief_kpis(
    year: int = Query(ge=2000, le=2099),
    town: str | None = Query(None, max_length=20),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_scopes(
        "statistics", roles=(DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, AUDITOR))),
) -> KpisOut:
    """Temporary-relief KPIs of ``year`` per town and for the district: fund usage rate (R-TR-4,
    临时救助资金使用率 ≥ 90 %) and SLA compliance (R-TR-2). A town-scoped user gets its own town;
    ``town`` narrows the list (422 ``unknown_town``)."""
    if town is not None:
        if not is_town(town):
            raise Problem(422, "unknown_town", f"unknown town (镇/街道) division code: {town}")
        principal.ensure_town(town, "town")
    towns = [t for t in TOWNS if principal.can_see_town(t.code) and (town is None or t.code == town)]
    async with uow:
        policy = await policy_on(uow.session, date(year, 12, 31))
        accounts = {
            town: (account.allocated + account.topped_up, account.paid)
            for town, account in (await funds.list_accounts(uow.session, year=year, towns=[t.code for t in towns])).items()
        }
        counts = await cases.sla_counts(uow.session, uow.now(), towns=[t.code for t in towns], year=year)
    target = policy.reserve_usage_target
    zero = Decimal("0.00")

    def row(code: str, name: str, allocated: Decimal, paid: Decimal, c: dict[str, int]) -> KpiOut:
        rate = usage_rate(paid, allocated)
        return KpiOut(
            town=code, town_name=name, reserve_allocated=allocated, reserve_paid=paid, usage_rate=_ratio(rate),
            usage_target=f"{target:.4f}", meets_usage_target=meets_usage_target(rate, target),
            sla_met=c.get("met", 0), sla_breached=c.get("breached", 0), sla_on_track=c.get("on_track", 0),
            sla_at_risk=c.get("at_risk", 0), sla_compliance_rate=_compliance(c.get("met", 0), c.get("breached", 0)),
        )

    items = []
    totals = {"allocated": zero, "paid": zero}
    sla_total: dict[str, int] = {}
    for t in towns:
        allocated, paid = accounts.get(t.code, (zero, zero))
        totals["allocated"] += allocated
        totals["paid"] += paid
        c = counts.get(t.code, {})
        for k, v in c.items():
            sla_total[k] = sla_total.get(k, 0) + v
        items.append(row(t.code, t.name, allocated, paid, c))
    return KpisOut(year=year, towns=items, district=row(DISTRICT.code, DISTRICT.name, totals["allocated"], totals["paid"], sla_total))
