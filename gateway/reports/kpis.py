"""The KPI report (POLICY.md, "KPIs on one page"): each service's own figures, merged.

Each service owns and computes its KPIs; the gateway asks them server to server, in parallel,
through its pooled upstream clients (``app.state.upstreams``), with the caller's bearer token —
so every service applies its own role and town checks exactly as for a direct call — and a time
limit per call (``report_source_timeout_seconds``). It only renames and arranges the answers:

=====================  ================================================  =====================
KPI                    source                                            rule, unit, target
=====================  ================================================  =====================
dibao_coverage         eligibility ``GET /eligibility/kpis``             R-DB-8, percent, none
benefit_growth         eligibility                                       R-DB-8, ratio, 1.12
relief_sla_compliance  relief ``GET /relief/kpis``                       R-TR-2, ratio, 1.0000
reserve_fund_usage     relief                                            R-TR-4, ratio, 0.90
centralized_rate       care ``GET /care/kpis`` (one call per area)       R-TK-3, ratio, 0.5
houses_accepted        subsidy ``GET /subsidy/housing-projects/kpi``     R-HS-1, count, 50
visits_on_time         care                                              R-LB-2, ratio, care's
wishes_*               wishes ``GET /wishes/kpis``                       R-MW, count, 5/village
=====================  ================================================  =====================

A service that does not answer (down, too slow, an error status, a malformed body) makes its
KPIs null in every area and its ``sources`` entry ``unavailable``; the report is still given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import structlog

from gateway.reports.schemas import Area, Kpi
from gateway.upstreams import Upstream
from shared.auth import TOWN_APPROVER, TOWN_CASEWORKER, Principal
from shared.errors import Problem, not_found
from shared.regions import DISTRICT, TOWNS, Region, is_town

log = structlog.get_logger("gateway.reports.kpis")

SOURCES = ("eligibility", "relief", "care", "subsidy", "wishes")
#: Town staff get their own town's report; district roles (and auditors) any.
TOWN_ROLES = (TOWN_APPROVER, TOWN_CASEWORKER)


@dataclass(frozen=True)
class KpiDef:
    id: str
    label: str
    rule: str
    unit: str
    source: str


KPIS: tuple[KpiDef, ...] = (
    KpiDef("dibao_coverage", "低保覆盖率", "R-DB-8", "percent", "eligibility"),
    KpiDef("benefit_growth", "人均补差增幅", "R-DB-8", "ratio", "eligibility"),
    KpiDef("relief_sla_compliance", "急难救助时限达标率", "R-TR-2", "ratio", "relief"),
    KpiDef("reserve_fund_usage", "备用金使用率", "R-TR-4", "ratio", "relief"),
    KpiDef("centralized_rate", "集中供养率", "R-TK-3", "ratio", "care"),
    KpiDef("houses_accepted", "安居工程验收户数", "R-HS-1", "count", "subsidy"),
    KpiDef("visits_on_time", "按时探访率", "R-LB-2", "ratio", "care"),
    KpiDef("wishes_published", "微心愿发布", "R-MW", "count", "wishes"),
    KpiDef("wishes_adopted", "微心愿认领", "R-MW", "count", "wishes"),
    KpiDef("wishes_fulfilled", "微心愿实现", "R-MW", "count", "wishes"),
)

Figures = dict[str, Any]  # value, numerator, denominator, target, met


@dataclass(frozen=True)
class ReportScope:
    """The areas of one report: the district (only for district roles asking for no town) and
    the towns, in region order; ``town`` is what the services are asked for (None: all)."""

    district: bool
    towns: tuple[Region, ...]
    town: str | None

    @property
    def codes(self) -> list[str]:
        return ([DISTRICT.code] if self.district else []) + [t.code for t in self.towns]


def report_scope(principal: Principal, town: str | None) -> ReportScope:
    """Which areas ``principal`` gets. District roles: the district and every town, or the one
    ``town`` asked for. Town staff: their own town (404 ``not_found`` for another one, 403 without
    a town on the account). Others 403; 422 ``unknown_town`` for a code that is no town."""
    if principal.client or not (principal.district_wide or principal.has_role(*TOWN_ROLES)):
        raise Problem(403, "forbidden", "Only district staff and town staff read the KPI report")
    if town is not None and not is_town(town):
        raise Problem(422, "unknown_town", f"unknown town (镇/街道) division code: {town}")
    if principal.district_wide:
        if town is None:
            return ReportScope(True, TOWNS, None)
        return ReportScope(False, tuple(t for t in TOWNS if t.code == town), town)
    if principal.town is None:
        raise Problem(403, "forbidden", "Your account has no town")
    if town is not None and town != principal.town:
        raise not_found("town")
    return ReportScope(False, tuple(t for t in TOWNS if t.code == principal.town), principal.town)


# --- asking the services ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One GET to a service; ``key`` names its answer."""

    service: str
    path: str
    params: dict[str, str]
    key: tuple[str, str]


def calls_for(year: int, scope: ReportScope) -> list[Call]:
    """Every request the report needs: one per service for the yearly per-town lists, one per
    area for care (it answers one area per call) and subsidy's housing KPI."""
    yearly = {"year": str(year)} | ({"town": scope.town} if scope.town else {})
    calls = [
        Call("eligibility", "/api/v1/eligibility/kpis", yearly, ("eligibility", "")),
        Call("relief", "/api/v1/relief/kpis", yearly, ("relief", "")),
        Call("wishes", "/api/v1/wishes/kpis", yearly, ("wishes", "")),
    ]
    for code in scope.codes:
        area = {} if code == DISTRICT.code else {"town": code}
        calls.append(Call("care", "/api/v1/care/kpis", {"year": str(year)} | area, ("care", code)))
        calls.append(Call("subsidy", "/api/v1/subsidy/housing-projects/kpi", area, ("subsidy", code)))
    return calls


async def _get(upstream: Upstream | None, call: Call, headers: dict[str, str], timeout: float) -> Any | None:
    """The JSON answer of ``call``, or None when it did not come (logged, without the token)."""
    if upstream is None:
        log.warning("gateway.reports.source_unavailable", service=call.service, reason="not_configured")
        return None
    try:
        response = await asyncio.wait_for(
            upstream.client.get(call.path, params=call.params, headers=headers, timeout=timeout), timeout
        )
    except (httpx.HTTPError, TimeoutError) as exc:
        log.warning("gateway.reports.source_unavailable", service=call.service, path=call.path,
                    error_type=type(exc).__name__)
        return None
    if response.status_code != 200:
        log.warning("gateway.reports.source_unavailable", service=call.service, path=call.path,
                    status=response.status_code)
        return None
    try:
        return response.json()
    except ValueError:
        log.warning("gateway.reports.source_unavailable", service=call.service, path=call.path, reason="not_json")
        return None


async def fetch(
    upstreams: dict[str, Upstream], calls: list[Call], *, token: str, correlation_id: str | None, timeout: float
) -> dict[tuple[str, str], Any | None]:
    """Every call at once; answers by ``key`` (None for each that did not come)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if correlation_id:
        headers["X-Correlation-ID"] = correlation_id
    answers = await asyncio.gather(*(_get(upstreams.get(c.service), c, headers, timeout) for c in calls))
    return {c.key: a for c, a in zip(calls, answers, strict=True)}


# --- merging -------------------------------------------------------------------------------------------


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _at_least(value: str | None, target: str | None) -> bool | None:
    if value is None or target is None:
        return None
    try:
        return Decimal(value) >= Decimal(target)
    except InvalidOperation:
        return None


def _fig(value: Any, numerator: Any = None, denominator: Any = None, target: Any = None, met: bool | None = None) -> Figures:
    return {"value": _s(value), "numerator": _s(numerator), "denominator": _s(denominator), "target": _s(target), "met": met}


def _by_area(answer: dict[str, Any], scope: ReportScope) -> dict[str, dict[str, Any]]:
    """A ``{towns: [...], district: {...}}`` answer by area code (KeyError if one is missing)."""
    towns = {row["town"]: row for row in answer["towns"]}
    out = {t.code: towns[t.code] for t in scope.towns}
    if scope.district:
        out[DISTRICT.code] = answer["district"]
    return out


def _eligibility(area: dict[str, Any]) -> dict[str, Figures]:
    return {
        "dibao_coverage": _fig(area["coverage_rate"], area["dibao_members"], area["registered_population"]),
        "benefit_growth": _fig(area["benefit_growth"], area["per_capita_benefit"], area["per_capita_benefit_previous"],
                               area["growth_target"], area["meets_growth_target"]),
    }


def _relief(area: dict[str, Any]) -> dict[str, Figures]:
    met, breached = int(area["sla_met"]), int(area["sla_breached"])
    return {
        # R-TR-2: every emergency case within its deadline; exact, not the rounded rate.
        "relief_sla_compliance": _fig(area["sla_compliance_rate"], met, met + breached, "1.0000",
                                      None if met + breached == 0 else breached == 0),
        "reserve_fund_usage": _fig(area["usage_rate"], area["reserve_paid"], area["reserve_allocated"],
                                   area["usage_target"], area["meets_usage_target"]),
    }


def _wishes(area: dict[str, Any]) -> dict[str, Figures]:
    target = int(area["target"])
    return {
        f"wishes_{what}": _fig(int(area[what]), target=target, met=int(area[what]) >= target)
        for what in ("published", "adopted", "fulfilled")
    }


def _care(answer: dict[str, Any], code: str) -> dict[str, Figures]:
    centralized = answer["centralized_rate"]
    if code == DISTRICT.code:
        rate = centralized["district"]
    else:
        rate = next(row for row in centralized["towns"] if row["town"] == code)
    visits = answer["visits_on_time"]
    visits_target = visits.get("target")
    visits_met = visits["met"] if "met" in visits else _at_least(visits["rate"], visits_target)
    return {
        "centralized_rate": _fig(rate["rate"], rate["centralized"], rate["full_loss"], centralized["target"], rate["met"]),
        "visits_on_time": _fig(visits["rate"], visits["on_time"],
                               int(visits["on_time"]) + int(visits["late"]) + int(visits["missed"]),
                               visits_target, visits_met),
    }


def _subsidy(answer: dict[str, Any], code: str) -> dict[str, Figures]:
    accepted = int(answer["accepted"])
    if code == DISTRICT.code:  # R-HS-1's 50 houses are a district target
        return {"houses_accepted": _fig(accepted, target=int(answer["target"]), met=bool(answer["met"]))}
    return {"houses_accepted": _fig(accepted)}


def _source_figures(
    source: str, answers: dict[tuple[str, str], Any | None], scope: ReportScope
) -> dict[str, dict[str, Figures]] | None:
    """Area code → KPI id → figures of one source; None when it did not (fully) answer."""
    try:
        if source in ("eligibility", "relief", "wishes"):
            answer = answers[(source, "")]
            if answer is None:
                return None
            extract: Callable[[dict[str, Any]], dict[str, Figures]] = {
                "eligibility": _eligibility, "relief": _relief, "wishes": _wishes}[source]
            return {code: extract(row) for code, row in _by_area(answer, scope).items()}
        per_area = {code: answers[(source, code)] for code in scope.codes}
        if any(a is None for a in per_area.values()):
            return None
        extract_area = _care if source == "care" else _subsidy
        return {code: extract_area(a, code) for code, a in per_area.items()}
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        log.warning("gateway.reports.source_malformed", service=source, error_type=type(exc).__name__)
        return None


def merge(answers: dict[tuple[str, str], Any | None], scope: ReportScope) -> tuple[list[Area], dict[str, str]]:
    """The report's areas (district first, then towns in region order) and ``sources``."""
    figures = {source: _source_figures(source, answers, scope) for source in SOURCES}
    sources = {source: "ok" if figures[source] is not None else "unavailable" for source in SOURCES}
    empty = _fig(None)
    regions = ([DISTRICT] if scope.district else []) + list(scope.towns)
    areas = []
    for region in regions:
        kpis = []
        for kpi in KPIS:
            by_area = figures[kpi.source]
            fig = by_area[region.code].get(kpi.id, empty) if by_area is not None else empty
            kpis.append(Kpi(id=kpi.id, label=kpi.label, rule=kpi.rule, unit=kpi.unit,
                            comparison=">=" if fig["target"] is not None else None, **fig))
        areas.append(Area(code=region.code, name=region.name, level="district" if region is DISTRICT else "town", kpis=kpis))
    return areas, sources
