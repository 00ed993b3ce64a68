"""A household's figures on a date, read from the registry, as the rules take them.

Windows (calendar months, R-DB-2 / R-RM): the last 12 months are the 12 before the assessment
month; the 12 months before those; the previous calendar year.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility.figures import ZERO, add_months, exact, month_of
from services.eligibility.registry.models import Asset, Expenditure, Household, Income, Person
from services.eligibility.registry.rules import share_in_window
from services.eligibility.registry.schemas import COUNTED_SOURCES, FINANCIAL_ASSETS


@dataclass
class HouseholdFigures:
    on: date
    window: tuple[date, date]
    members: list[Person]  # counted: active, living together
    income_12m: Fraction = ZERO
    excluded_income_12m: Fraction = ZERO
    income_by_source: dict[str, Fraction] = field(default_factory=dict)
    income_prev_12m: Fraction = ZERO
    income_prev_year: Fraction = ZERO
    expenditure_12m: dict[str, Fraction] = field(default_factory=dict)
    financial_assets: Fraction = ZERO
    disqualifying_assets: list[str] = field(default_factory=list)
    own_income_12m: dict[uuid.UUID, Fraction] = field(default_factory=dict)


def counted_members(persons: list[Person], on: date) -> list[Person]:
    """R-DB-2: the members living together, alive and not moved away on ``on``."""
    return [
        p for p in persons
        if p.status == "active" and p.living_together and (p.deceased_on is None or p.deceased_on > on)
    ]


async def household_figures(session: AsyncSession, household: Household, on: date, persons: list[Person] | None = None) -> HouseholdFigures:
    """Incomes, expenditure and assets of ``household`` seen from ``on`` (exact fractions)."""
    if persons is None:
        persons = list((await session.scalars(select(Person).where(Person.household_id == household.id))).all())
    month = month_of(on)
    last = add_months(month, -1)
    first = add_months(month, -12)
    prev_first, prev_last = add_months(month, -24), add_months(month, -13)
    year_first, year_last = date(on.year - 1, 1, 1), date(on.year - 1, 12, 1)
    figures = HouseholdFigures(on=on, window=(first, last), members=counted_members(persons, on))
    counted_ids = {p.id for p in figures.members}

    incomes = (await session.scalars(select(Income).where(Income.household_id == household.id))).all()
    for row in incomes:
        if row.person_id is not None and row.person_id not in counted_ids:
            continue  # income of a member no longer in the household
        share = share_in_window(row.first_month, row.last_month, row.amount, first, last)
        if row.source in COUNTED_SOURCES:
            figures.income_12m += share
            figures.income_by_source[row.source] = figures.income_by_source.get(row.source, ZERO) + share
            figures.income_prev_12m += share_in_window(row.first_month, row.last_month, row.amount, prev_first, prev_last)
            figures.income_prev_year += share_in_window(row.first_month, row.last_month, row.amount, year_first, year_last)
            if row.person_id is not None:
                figures.own_income_12m[row.person_id] = figures.own_income_12m.get(row.person_id, ZERO) + share
        else:
            figures.excluded_income_12m += share

    expenditures = (await session.scalars(select(Expenditure).where(Expenditure.household_id == household.id))).all()
    for row in expenditures:
        share = share_in_window(row.first_month, row.last_month, row.amount, first, last)
        if share:
            figures.expenditure_12m[row.category] = figures.expenditure_12m.get(row.category, ZERO) + share

    assets = (await session.scalars(select(Asset).where(Asset.household_id == household.id))).all()
    for row in assets:
        if row.kind in FINANCIAL_ASSETS:
            figures.financial_assets += exact(row.value)
        if row.disqualifying:
            figures.disqualifying_assets.append(row.kind)
    return figures
