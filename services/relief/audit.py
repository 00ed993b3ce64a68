"""Audit of staff reads of personal data (API.md: "reads of personal data are audited").

Each read of a relief case's applicant (name, resident ID number — in full on ``GET
/cases/{id}``, masked in lists) adds one row per case, in the reading request's own
transaction: who (actor, roles, town), through which client, which case and applicant, the path
and request id. Rows hold identifiers only, never the ID number or name. ``GET
/api/v1/relief/audit-log`` lets the auditor and the district administrator query them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from services.relief.models import Base
from shared.app import get_uow
from shared.auditlog import audit_log_query
from shared.auth import AUDITOR, DISTRICT_ADMIN, Principal, client_of, require_roles
from shared.db import UnitOfWork
from shared.http import request_id_of
from shared.pagination import Page, PageParams, make_page, page_params
from shared.timestamps import BusinessDatetime

AUDIT_READERS = (AUDITOR, DISTRICT_ADMIN)


class AccessAudit(Base):
    """``actor`` (of ``town``, with ``roles``, through ``client``) read case ``case_id`` (of
    ``record_town``; applicant ``person_id`` of ``household_id`` when registered) at ``at``."""

    __tablename__ = "access_audit"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(300))
    town: Mapped[str | None] = mapped_column(String(9))
    client: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    record_town: Mapped[str | None] = mapped_column(String(9))
    person_id: Mapped[str | None] = mapped_column(String(64))
    household_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    path: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_access_audit_case", "case_id", "at"),
        # Usernames are unique ignoring case (gateway): an auditor's ``actor`` filter is too.
        Index("ix_access_audit_actor_lower_id", text("lower(actor)"), "id"),
        Index("ix_access_audit_person", "person_id"),
    )


def record_read(uow: UnitOfWork, request: Request, principal: Principal, action: str, cases: Iterable[Any]) -> None:
    """Stage one audit row per case read (``cases``: :class:`ReliefCase` rows), committed with
    the request's unit of work; ``action``: ``case.read`` (full record) or ``cases.list``."""
    at, roles = uow.now(), ",".join(sorted(principal.roles)) or "client"
    client = client_of(request, principal)
    request_id = request_id_of(request)
    uow.session.add_all(
        AccessAudit(
            at=at, actor=principal.subject, roles=roles, town=principal.town, client=client, action=action,
            case_id=case.id, record_town=case.town, person_id=case.person_id, household_id=case.household_id,
            request_id=request_id, path=request.url.path,
        )
        for case in cases
    )


# -- the query endpoint ------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1/relief", tags=["audit"])


class AuditOut(BaseModel):
    """One audited read: who, when, which case (``record_type`` ``case``, ``record_id`` the case
    id) and applicant, through which client, on which path and request."""

    id: int
    at: datetime
    actor: str
    roles: list[str]
    town: str | None
    client: str | None
    action: str
    record_type: str = "case"
    record_id: uuid.UUID | None
    record_town: str | None
    person_id: str | None
    household_id: str | None
    request_id: str | None
    path: str | None

    @classmethod
    def of(cls, row: AccessAudit) -> AuditOut:
        return cls(id=row.id, at=row.at, actor=row.actor, roles=[r for r in row.roles.split(",") if r],
                   town=row.town, client=row.client, action=row.action, record_id=row.case_id,
                   record_town=row.record_town, person_id=row.person_id, household_id=row.household_id,
                   request_id=row.request_id, path=row.path)


@router.get("/audit-log", response_model=Page[AuditOut])
async def audit_log(
    actor: str | None = Query(None, max_length=200),
    record_id: uuid.UUID | None = Query(None, description="the case id"),
    person_id: str | None = Query(None, max_length=64, description="the applicant's registry person id"),
    household_id: str | None = Query(None, max_length=64),
    since: Annotated[BusinessDatetime | None, Query(alias="from", description="at or after (aware instant)")] = None,
    until: Annotated[BusinessDatetime | None, Query(alias="to", description="before (aware instant)")] = None,
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*AUDIT_READERS)),
) -> Page[AuditOut]:
    """Staff reads of relief applicants' data, newest first (auditor, district administrator):
    who, when, which case and applicant, through which client. Filters (AND): ``actor`` (ignoring
    case, as usernames are), ``record_id`` (case), ``person_id``, ``household_id``, ``from`` ≤ at < ``to``. 403 for other
    roles; 422 ``invalid_cursor``, ``timezone_aware``, ``out_of_range``."""
    query = audit_log_query(AccessAudit, page, actor=actor, since=since, until=until, equal=(
        (AccessAudit.case_id, record_id), (AccessAudit.person_id, person_id), (AccessAudit.household_id, household_id)))
    async with uow:
        rows = [AuditOut.of(r) for r in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda r: [r.id])
