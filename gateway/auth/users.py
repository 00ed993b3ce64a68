"""Rules for a user's place in the district (pure: no I/O).

Town staff (town_approver, town_caseworker) and village officers act for one town; a village
officer also for one village, which must lie in that town (the town may be left out and is then
the village's). Other roles may carry a known town (a care worker's) but no village.
"""

from __future__ import annotations

from typing import Any

from shared import regions
from shared.auth import TOWN_APPROVER, TOWN_CASEWORKER, VILLAGE_OFFICER
from shared.errors import validation_problem

TOWN_ROLES = frozenset({TOWN_APPROVER, TOWN_CASEWORKER, VILLAGE_OFFICER})


def check_assignment(roles: list[str], town: str | None, village: str | None) -> tuple[str | None, str | None]:
    """The (town, village) to store for a user with ``roles``.

    Raises a 422 problem listing every error: ``unknown_town``, ``unknown_village``,
    ``village_not_in_town``, ``town_required``, ``village_required``, ``village_not_allowed``.
    """
    errors: list[dict[str, Any]] = []

    def error(field: str, code: str, message: str) -> None:
        errors.append({"field": field, "code": code, "message": message})

    if town is not None and not regions.is_town(town):
        error("town", "unknown_town", f"{town!r} is not a town of Quangang district")
    if village is not None:
        if VILLAGE_OFFICER not in roles:
            error("village", "village_not_allowed", "only a village officer has a village")
        elif not regions.is_village(village):
            error("village", "unknown_village", f"{village!r} is not a village of Quangang district")
        else:
            parent = regions.town_of_village(village).code
            if town is None:
                town = parent
            elif town != parent:
                error("village", "village_not_in_town", f"village {village} is not in town {town}")
    if TOWN_ROLES & set(roles) and town is None:
        error("town", "town_required", "town staff and village officers need a town")
    if VILLAGE_OFFICER in roles and village is None:
        error("village", "village_required", "a village officer needs a village")
    if errors:
        raise validation_problem(errors, "The user's town or village is not valid")
    return town, village
