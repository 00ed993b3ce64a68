"""R-DB-8 KPIs from the service's own benefit history (``benefit_periods``), set-based.

One statement reads every dibao / single-person benefit's history once: a window function finds
where each recorded period is superseded (the earliest start among the periods recorded after
it), each period becomes a span of month numbers clipped to the benefit's ``effective_month`` ..
``last_month``, and the spans are summed per town over three ranges — the year's months up to
``as_of``, the previous year's, and the month of ``as_of`` (who is covered then). The same
semantics in Python: :func:`services.eligibility.kpis.rules.benefit_totals`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from sqlalchemy import select, text

from services.eligibility.figures import local_date, month_of
from services.eligibility.kpis import rules
from services.eligibility.parameters.service import parameters_on
from services.eligibility.registry.models import TownPopulation
from shared import regions
from shared.db import UnitOfWork

_MI = "(EXTRACT(YEAR FROM {0})::int * 12 + EXTRACT(MONTH FROM {0})::int)"

_TOTALS = text(f"""
    WITH p AS (
        SELECT bp.town, bp.monthly_amount AS amount, bp.members, b.household_id,
               GREATEST({_MI.format('bp.from_month')}, {_MI.format('b.effective_month')}) AS lo,
               LEAST(COALESCE({_MI.format('min(bp.from_month) OVER w')} - 1, 2147483647),
                     COALESCE({_MI.format('b.last_month')}, 2147483647)) AS hi
        FROM benefit_periods bp
        JOIN benefits b ON b.id = bp.benefit_id
        WHERE b.category IN ('dibao', 'dibao_single_person')
          AND b.effective_month <= CAST(:until AS date)
          AND (b.last_month IS NULL OR b.last_month >= CAST(:since AS date))
        WINDOW w AS (PARTITION BY bp.benefit_id ORDER BY bp.id ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
    ),
    s AS (
        SELECT town, amount, members, household_id, lo, hi,
               GREATEST(LEAST(hi, :cur_hi) - GREATEST(lo, :cur_lo) + 1, 0) AS cur_months,
               GREATEST(LEAST(hi, :prev_hi) - GREATEST(lo, :prev_lo) + 1, 0) AS prev_months
        FROM p
        WHERE town = ANY(CAST(:towns AS text[]))
    )
    SELECT town,
           COALESCE(sum(amount * cur_months), 0) AS cur_amount,
           COALESCE(sum(members * cur_months), 0) AS cur_persons,
           COALESCE(sum(amount * prev_months), 0) AS prev_amount,
           COALESCE(sum(members * prev_months), 0) AS prev_persons,
           count(DISTINCT household_id) FILTER (WHERE lo <= :as_of AND :as_of <= hi) AS households,
           COALESCE(sum(members) FILTER (WHERE lo <= :as_of AND :as_of <= hi), 0) AS members
    FROM s
    GROUP BY town
""")


@dataclass
class AreaFigures:
    """One town's (or the district's) R-DB-8 figures."""

    code: str
    name: str
    registered_population: int | None = None
    households: int = 0
    members: int = 0
    current: rules.Totals = field(default_factory=rules.Totals)
    previous: rules.Totals = field(default_factory=rules.Totals)


def year_ranges(year: int, today: date) -> tuple[date, tuple[date, date], tuple[date, date]]:
    """``as_of`` = min(31 December of ``year``, today); the year's months from January to the
    month of ``as_of``; the previous year's months from January to December (or to today's month
    when that comes first). A range may be empty (its last month before its first)."""
    as_of = min(date(year, 12, 31), today)
    current = (date(year, 1, 1), month_of(as_of))
    previous = (date(year - 1, 1, 1), min(date(year - 1, 12, 1), month_of(today)))
    return as_of, current, previous


async def town_figures(uow: UnitOfWork, *, year: int, towns: list[str]) -> tuple[date, list[AreaFigures]]:
    """Per town of ``towns`` (codes, region order kept): registered population of ``year``,
    dibao households and members covered in the month of ``as_of``, and the person-month totals
    of the year (to ``as_of``) and of the previous year. Returns ``as_of`` and the figures."""
    session = uow.session
    as_of, (cur_first, cur_last), (prev_first, prev_last) = year_ranges(year, local_date(uow.now()))
    mi = rules.month_index
    rows = (await session.execute(_TOTALS, {
        "since": min(prev_first, month_of(as_of)), "until": max(cur_last, prev_last, month_of(as_of)),
        "cur_lo": mi(cur_first), "cur_hi": mi(cur_last), "prev_lo": mi(prev_first), "prev_hi": mi(prev_last),
        "as_of": mi(month_of(as_of)), "towns": towns,
    })).all()
    by_town = {r.town: r for r in rows}
    populations = {
        p.town: p.registered_population
        for p in (await session.scalars(select(TownPopulation).where(TownPopulation.year == year, TownPopulation.town.in_(towns)))).all()
    }
    out = []
    for code in towns:
        row = by_town.get(code)
        area = AreaFigures(code=code, name=regions.town(code).name, registered_population=populations.get(code))
        if row is not None:
            area.households, area.members = int(row.households), int(row.members)
            area.current = rules.Totals(Fraction(row.cur_amount), int(row.cur_persons))
            area.previous = rules.Totals(Fraction(row.prev_amount), int(row.prev_persons))
        out.append(area)
    return as_of, out


def district_of(towns: list[AreaFigures]) -> AreaFigures:
    """The district's figures: the towns' sums; its registered population only when every town
    has one for the year (a partial sum would overstate coverage)."""
    district = AreaFigures(code=regions.DISTRICT.code, name=regions.DISTRICT.name)
    for area in towns:
        district.households += area.households
        district.members += area.members
        district.current = district.current + area.current
        district.previous = district.previous + area.previous
    populations = [a.registered_population for a in towns]
    if towns and all(p is not None for p in populations):
        district.registered_population = sum(p for p in populations if p is not None)
    return district


async def growth_target(uow: UnitOfWork, as_of: date):  # noqa: ANN201 - Decimal
    """The ``benefit_growth_target`` parameter (1.12) in force on ``as_of`` (R-DB-8)."""
    return (await parameters_on(uow.session, as_of))["benefit_growth_target"]
