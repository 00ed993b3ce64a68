"""Who sees what in the wishes service: district staff everything, town staff their town, a
village officer their village (token claim ``village``). Anything else is 404, so that another
place's records are not revealed (as ``Principal.ensure_town``)."""

from __future__ import annotations

from shared.auth import TOWN_APPROVER, TOWN_CASEWORKER, VILLAGE_OFFICER, Principal
from shared.errors import Problem, not_found

TOWN_REVIEWERS = (TOWN_APPROVER, TOWN_CASEWORKER)


def village_scoped(principal: Principal) -> bool:
    """A village officer acting for one village (not also district or town staff)."""
    return (
        principal.has_role(VILLAGE_OFFICER)
        and not principal.district_wide
        and not principal.has_role(*TOWN_REVIEWERS)
    )


def can_see_place(principal: Principal, town: str, village: str | None) -> bool:
    if village_scoped(principal):
        return principal.village is not None and principal.village == village
    return principal.can_see_town(town)


def ensure_place(principal: Principal, town: str, village: str | None, what: str) -> None:
    """404 ``not_found`` unless ``principal`` may see a record of ``town`` / ``village``."""
    if not can_see_place(principal, town, village):
        raise not_found(what)


def officer_village(principal: Principal) -> str:
    """The village a village officer enters wishes for; 403 ``no_village`` without the claim."""
    if not principal.village:
        raise Problem(403, "no_village", "Your account is not attached to a village")
    return principal.village


def ensure_town_reviewer(principal: Principal, town: str, what: str) -> None:
    """Town staff of ``town`` (404 for another town's record); district_admin is not a reviewer."""
    if not principal.has_role(*TOWN_REVIEWERS):
        raise Problem(403, "forbidden", "Only the town reviews, publishes and closes wishes")
    if principal.town != town:
        raise not_found(what)
