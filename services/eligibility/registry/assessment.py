"""A household's figures on a date, read from the registry, as the rules take them.

Windows (calendar months, R-DB-2 / R-RM): the last 12 months are the 12 before the assessment
month; the 12 months before those; the previous calendar year.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
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
    incomes = (await session.scalars(select(Income).where(Income.household_id == household.id))).all()
    expenditures = (await session.scalars(select(Expenditure).where(Expenditure.household_id == household.id))).all()
    assets = (await session.scalars(select(Asset).where(Asset.household_id == household.id))).all()
    return figures_from_rows(on, persons, incomes, expenditures, assets)


async def income_figures_of(session: AsyncSession, household_ids: Sequence[uuid.UUID], on: date) -> dict[uuid.UUID, HouseholdFigures]:
    """:func:`household_figures` of many households at once, without assets (the monitoring sweep
    does not read them): three set-based SELECTs of the columns the arithmetic reads, instead of
    four ORM loads per household. ``members`` holds rows with ``id``, ``status``,
    ``living_together`` and ``deceased_on`` (not :class:`Person` objects). Flush pending changes
    first: the rows are read from the database."""
    ids = list(household_ids)
    persons: dict[uuid.UUID, list] = {hid: [] for hid in ids}
    incomes: dict[uuid.UUID, list] = {hid: [] for hid in ids}
    expenditures: dict[uuid.UUID, list] = {hid: [] for hid in ids}
    if ids:
        for grouped, query in (
            (persons, select(Person.household_id, Person.id, Person.status, Person.living_together, Person.deceased_on)
             .where(Person.household_id.in_(ids))),
            (incomes, select(Income.household_id, Income.person_id, Income.source, Income.first_month, Income.last_month, Income.amount)
             .where(Income.household_id.in_(ids)).order_by(Income.id)),
            (expenditures, select(Expenditure.household_id, Expenditure.category, Expenditure.first_month, Expenditure.last_month,
                                  Expenditure.amount)
             .where(Expenditure.household_id.in_(ids)).order_by(Expenditure.id)),
        ):
            for row in (await session.execute(query)).all():
                grouped[row.household_id].append(row)
    return {hid: figures_from_rows(on, persons[hid], incomes[hid], expenditures[hid], ()) for hid in ids}


def figures_from_rows(on: date, persons: Iterable, incomes: Iterable, expenditures: Iterable, assets: Iterable) -> HouseholdFigures:
    """The arithmetic of :func:`household_figures` on loaded rows (ORM objects or column rows
    with the same attribute names)."""
    month = month_of(on)
    last = add_months(month, -1)
    first = add_months(month, -12)
    prev_first, prev_last = add_months(month, -24), add_months(month, -13)
    year_first, year_last = date(on.year - 1, 1, 1), date(on.year - 1, 12, 1)
    figures = HouseholdFigures(on=on, window=(first, last), members=counted_members(list(persons), on))
    counted_ids = {p.id for p in figures.members}

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

    for row in expenditures:
        share = share_in_window(row.first_month, row.last_month, row.amount, first, last)
        if share:
            figures.expenditure_12m[row.category] = figures.expenditure_12m.get(row.category, ZERO) + share

    for row in assets:
        if row.kind in FINANCIAL_ASSETS:
            figures.financial_assets += exact(row.value)
        if row.disqualifying:
            figures.disqualifying_assets.append(row.kind)
    return figures
