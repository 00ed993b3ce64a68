"""``/api/v1/wishes/families/{household_id}``: may this family have a wish (R-MW-1)?"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from services.wishes import rules
from services.wishes.access import ensure_place
from services.wishes.deps import unit_of_work
from services.wishes.families.service import known_family
from shared.auth import STAFF_ROLES, VILLAGE_OFFICER, Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import not_found

router = APIRouter(prefix="/api/v1/wishes/families", tags=["families"])


class FamilyEligibilityOut(BaseModel):
    """What this service's projection says of a household (no personal data: it holds none)."""

    household_id: str
    town: str
    village: str | None
    eligible: bool
    family_types: list[str]
    family_type: str | None
    family_type_label: str | None


@router.get("/{household_id}", response_model=FamilyEligibilityOut)
async def family_eligibility(
    household_id: str = Path(max_length=64),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*STAFF_ROLES, VILLAGE_OFFICER)),
) -> FamilyEligibilityOut:
    """R-MW-1 for one household, from the projection of eligibility's events: eligible when it is
    a registered-poor (精准扶贫户), dibao, tekun, lonely-elderly or child-in-difficulty family.
    A village officer sees its own village's households, town staff their town's; 404 otherwise
    or when no eligibility event has named the household yet."""
    async with uow:
        family = await known_family(uow.session, household_id)
    if family is None:
        raise not_found("household")
    ensure_place(principal, family.town, family.village, "household")
    types = list(family.family_types)
    return FamilyEligibilityOut(
        household_id=family.household_id, town=family.town, village=family.village, eligible=bool(types),
        family_types=types, family_type=types[0] if types else None,
        family_type_label=rules.FAMILY_TYPE_LABELS[types[0]] if types else None,
    )
