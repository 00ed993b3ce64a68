"""Reading the eligibility projection: is a household one R-MW-1 accepts, and under which type."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.wishes import rules
from services.wishes.families.models import Family, FamilyBenefit


@dataclass(frozen=True)
class KnownFamily:
    """A household as this service knows it, with the facts R-MW-1 looks at."""

    household_id: str
    town: str
    village: str | None
    facts: rules.FamilyFacts

    @property
    def family_types(self) -> tuple[str, ...]:
        return rules.family_types(self.facts)


async def known_family(session: AsyncSession, household_id: str) -> KnownFamily | None:
    """The household from the projection with its active benefits, or None if no event named it."""
    family = await session.get(Family, household_id)
    if family is None:
        return None
    categories = set(
        (
            await session.scalars(
                select(FamilyBenefit.category).where(
                    FamilyBenefit.household_id == household_id, FamilyBenefit.active.is_(True)
                )
            )
        ).all()
    )
    facts = rules.facts_from_projection(
        registered_poor=family.registered_poor,
        lonely_elderly=family.lonely_elderly,
        child_in_difficulty=family.child_in_difficulty,
        active_benefits=categories,
    )
    return KnownFamily(family.household_id, family.town, family.village, facts)
