"""What every domain area of the care service shares: roles, pydantic field types, dates.

Only plumbing lives here (no policy): role groups for ``require_roles``, region-code field types
whose errors carry a stable problem code, the local date from the injected clock, and the town
(and, for a village officer, village) scope a list or a record read applies for the caller.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError
from sqlalchemy import ColumnElement

from shared.auth import (
    AUDITOR,
    CARE_WORKER,
    DISTRICT_ADMIN,
    DISTRICT_APPROVER,
    STAFF_ROLES,
    TOWN_APPROVER,
    TOWN_CASEWORKER,
    VILLAGE_OFFICER,
    VOLUNTEER,
    Principal,
)
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.regions import is_town, is_village, town_of_village

# Who may read care records (a town-scoped role only its own town's).
READ_ROLES: tuple[str, ...] = (*STAFF_ROLES, VILLAGE_OFFICER)
# Who may record care work (assessments, registry entries, visit plans, alerts).
WRITE_ROLES: tuple[str, ...] = (DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, CARE_WORKER)
# District-level decisions: care homes, bed allocation, parameters.
DISTRICT_ROLES: tuple[str, ...] = (DISTRICT_ADMIN, DISTRICT_APPROVER)
# Visitors paired with a visit plan (R-LB-2): 505 volunteers and care workers.
VISITOR_ROLES: tuple[str, ...] = (VOLUNTEER, CARE_WORKER)
AUDIT_ROLES: tuple[str, ...] = (DISTRICT_ADMIN, AUDITOR)
# Who sees full resident ID numbers and exports them (the national system's file): the staff who
# decide and register; others see them masked.
ID_NUMBER_ROLES: tuple[str, ...] = (DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER)


def _town_code(value: str) -> str:
    if not is_town(value):
        raise PydanticCustomError("unknown_town", "unknown town code {value}", {"value": value})
    return value


def _village_code(value: str) -> str:
    if not is_village(value):
        raise PydanticCustomError("unknown_village", "unknown village code {value}", {"value": value})
    return value


TownCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=9), AfterValidator(_town_code)]
"""A town (镇/街道) division code such as ``"350505100"``; error code ``unknown_town``."""

VillageCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=12), AfterValidator(_village_code)]
"""A village (村/居) division code such as ``"350505100001"``; error code ``unknown_village``."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def check_village_in_town(town: str, village: str | None) -> None:
    """422 ``village_not_in_town`` when ``village`` belongs to another town."""
    if village is not None and town_of_village(village).code != town:
        raise Problem(
            422,
            "village_not_in_town",
            "The village does not belong to the town",
            errors=[{"field": "village", "code": "village_not_in_town", "message": "village of another town"}],
        )


class Model(BaseModel):
    """Request bodies: unknown fields are refused (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


def today(uow: UnitOfWork) -> date:
    """Today in Asia/Shanghai from the unit of work's injected clock."""
    return local_today(uow.clock)


def ensure_not_future(value: date, on: date, field: str) -> None:
    """422 ``future_date`` when ``value`` is after ``on`` (today)."""
    if value > on:
        raise Problem(
            422,
            "future_date",
            f"{field} must not be in the future",
            errors=[{"field": field, "code": "future_date", "message": f"{value.isoformat()} is after {on.isoformat()}"}],
        )


def town_filter(principal: Principal, town: str | None) -> str | None:
    """The town a list is limited to: the caller's own for a town-scoped user (404 when it asks
    for another town), else the ``town`` asked for (None = the whole district)."""
    if principal.district_wide:
        return town
    if principal.town is None:
        raise Problem(403, "forbidden", "Your account has no town")
    if town is not None and town != principal.town:
        raise Problem(404, "not_found", "town not found")
    return principal.town


def village_scoped(principal: Principal) -> bool:
    """A village officer with no town-wide reading role sees its own village only (as in
    eligibility's ``access.village_scoped``)."""
    return (
        principal.has_role(VILLAGE_OFFICER)
        and not principal.district_wide
        and not principal.has_role(*(r for r in READ_ROLES if r != VILLAGE_OFFICER))
    )


def can_see(principal: Principal, town: str, village: str | None) -> bool:
    """Town scope (R-DB-7) and, for a village officer, village scope."""
    if not principal.can_see_town(town):
        return False
    return not village_scoped(principal) or (principal.village is not None and principal.village == village)


def ensure_visible(principal: Principal, town: str, village: str | None, what: str = "record") -> None:
    """404 (not 403) for a record of another town (R-DB-7) — or, for a village officer, of another
    village — so that its existence is not revealed."""
    if not can_see(principal, town, village):
        raise not_found(what)


def village_filter(principal: Principal) -> str | None:
    """The village a list is limited to: a village officer's own (``"-"``, matching nothing, when
    its token has no village), else None (no village limit)."""
    if not village_scoped(principal):
        return None
    return principal.village or "-"


def scope_clauses(
    principal: Principal, town: str | None, town_col: ColumnElement, village_col: ColumnElement
) -> list[ColumnElement]:
    """WHERE clauses limiting a list to what the caller may see: the town of :func:`town_filter`
    (403/404 as there) and, for a village officer, its own village (``village_col`` = the list's
    village column; an officer whose token has no village sees nothing)."""
    clauses: list[ColumnElement] = []
    scoped = town_filter(principal, town)
    if scoped is not None:
        clauses.append(town_col == scoped)
    village = village_filter(principal)
    if village is not None:
        clauses.append(village_col == village)
    return clauses


def parse_uuid(value: str, what: str) -> uuid.UUID:
    """A path id as UUID; anything else is simply not found (404)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        raise Problem(404, "not_found", f"{what} not found") from None


def conflict(code: str, detail: str, **ext: Any) -> Problem:
    return Problem(409, code, detail, **ext)


def cursor_key(after: list[Any] | None, *parsers: Any) -> tuple[Any, ...] | None:
    """The decoded sort key of a cursor (``parsers`` convert each part: ``date.fromisoformat``,
    ``uuid.UUID`` …); 422 ``invalid_cursor`` when it does not fit."""
    if after is None:
        return None
    if len(after) != len(parsers):
        raise Problem(422, "invalid_cursor", "The cursor is not valid")
    try:
        return tuple(parse(value) for parse, value in zip(parsers, after, strict=True))
    except (TypeError, ValueError):
        raise Problem(422, "invalid_cursor", "The cursor is not valid") from None


def paginate(items: list[Any], page: Any, key: Any) -> Any:
    """A page of a list computed in memory (small, bounded lists: the homes, the waiting list in
    priority order …): the items whose ``key`` (a JSON-able list, ascending with the order of
    ``items``) follows the cursor's, ``page.limit`` of them. 422 ``invalid_cursor`` for a cursor
    that does not fit."""
    from shared.pagination import make_page

    if page.after is not None:
        try:
            items = [item for item in items if key(item) > page.after]
        except TypeError:
            raise Problem(422, "invalid_cursor", "The cursor is not valid") from None
    return make_page(items[: page.limit + 1], page.limit, key)
