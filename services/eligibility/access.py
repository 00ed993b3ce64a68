"""Who may do what in this service, and the audit trail of staff reads of personal data."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from fastapi import Request
from sqlalchemy import ColumnElement, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import (
    AUDITOR,
    CARE_WORKER,
    DISTRICT_ADMIN,
    DISTRICT_APPROVER,
    TOWN_APPROVER,
    TOWN_CASEWORKER,
    VILLAGE_OFFICER,
    Principal,
    client_of,
)
from shared.errors import not_found
from shared.http import request_id_of

# Read the registry (town staff see their own town only).
READERS = (DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, CARE_WORKER, AUDITOR, VILLAGE_OFFICER)
# Register households and record their data.
WRITERS = (DISTRICT_ADMIN, TOWN_CASEWORKER, TOWN_APPROVER)
# Decide (R-DB-7: the household's own town approves).
APPROVERS = (TOWN_APPROVER,)
AUDIT_READERS = (AUDITOR, DISTRICT_ADMIN)
# Roles that need a household's finances and members' full ID numbers and bank accounts (to
# assess, approve, pay or audit). The other readers — village officers, care workers — get the
# reduced view (ARCHITECTURE.md, Security: personal data only to a role that needs it).
FULL_VIEW = (DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, AUDITOR)


def full_view(principal: Principal) -> bool:
    """Whether the caller gets the full household/person view (else the reduced one)."""
    return principal.client or principal.has_role(*FULL_VIEW)


def village_scoped(principal: Principal) -> bool:
    """A village officer with no town-wide reading role sees its own village only."""
    return principal.has_role(VILLAGE_OFFICER) and not principal.district_wide and not principal.has_role(
        *(r for r in READERS if r != VILLAGE_OFFICER))


def can_see(principal: Principal, town: str, village: str | None) -> bool:
    """Town scope (R-DB-7) and, for a village officer, village scope."""
    if not principal.can_see_town(town):
        return False
    return not village_scoped(principal) or (principal.village is not None and principal.village == village)


def ensure_visible(principal: Principal, town: str, village: str | None, what: str = "record") -> None:
    """404 (not 403) for a record of another town — or, for a village officer, another village —
    so that its existence is not revealed."""
    if not can_see(principal, town, village):
        raise not_found(what)


def scope_clauses(principal: Principal, town: ColumnElement, village: ColumnElement | None = None) -> list[ColumnElement]:
    """WHERE clauses limiting a list to what the caller may see: its town, and for a village
    officer its village (``village`` = the list's village column; a list without one shows a
    village officer nothing)."""
    if principal.district_wide:
        return []
    clauses = [town == (principal.town or "-")]
    if village_scoped(principal):
        clauses.append(village == (principal.village or "-") if village is not None else false())
    return clauses


def household_scope_clauses(principal: Principal, town: ColumnElement, household_id: ColumnElement) -> list[ColumnElement]:
    """Like :func:`scope_clauses` for a list with no village column but a household (referrals,
    …): its town, and for a village officer the rows of its own village's households."""
    from services.eligibility.registry.models import Household

    if principal.district_wide:
        return []
    clauses = [town == (principal.town or "-")]
    if village_scoped(principal):
        clauses.append(household_id.in_(select(Household.id).where(*scope_clauses(principal, Household.town, Household.village))))
    return clauses


def actor_of(principal: Principal) -> str:
    """The subject recorded in history and audit entries (a username or a client id)."""
    return principal.subject


async def audit_reads(
    session: AsyncSession,
    *,
    request: Request,
    principal: Principal,
    at,  # noqa: ANN001 - aware datetime
    record_type: str,
    records: Iterable[tuple[uuid.UUID, uuid.UUID | None]],
    action: str = "read",
) -> None:
    """Write one audit entry per record read by a staff user: ``records`` = (record id,
    household id). System clients' reads are not staff reads and are not written."""
    from services.eligibility.registry.models import AuditEntry

    if principal.client:
        return
    client = client_of(request, principal)
    request_id = request_id_of(request)
    for record_id, household_id in records:
        session.add(
            AuditEntry(
                at=at,
                actor=actor_of(principal),
                roles=sorted(principal.roles),
                town=principal.town,
                client=client,
                action=action,
                record_type=record_type,
                record_id=record_id,
                household_id=household_id,
                request_id=request_id,
                path=request.url.path,
            )
        )
