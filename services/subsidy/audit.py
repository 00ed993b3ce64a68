"""Audit trail of staff reads of personal data (ARCHITECTURE.md, Security: every read of a
person's record by staff is audited) — payment lines, bank files, roster persons.

One row per person whose data a read showed (``record_type`` ``person``, ``record_id`` the
registry person id), or one row for the run of a bank file: who (actor, roles, town), through
which client, the path and request id. Rows hold identifiers only, never an ID number, name or
account. ``GET /api/v1/subsidy/audit-log`` lets the auditor and the district administrator query
them.
"""

from __future__ import annotations

from typing import Annotated

from collections.abc import Iterable
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Index, String, Text, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.subsidy.models import Base
from shared.app import get_uow
from shared.auditlog import audit_log_query
from shared.auth import AUDITOR, DISTRICT_ADMIN, Principal, client_of, require_roles
from shared.db import UnitOfWork
from shared.http import request_id_of
from shared.pagination import Page, PageParams, make_page, page_params
from shared.timestamps import BusinessDatetime

AUDIT_READERS = (AUDITOR, DISTRICT_ADMIN)


class AuditRead(Base):
    """Who read which personal data, when, through which client (never the data itself)."""

    __tablename__ = "audit_reads"
    # Usernames are unique ignoring case (gateway): an auditor's ``actor`` filter is too.
    __table_args__ = (Index("ix_audit_reads_actor_lower_id", text("lower(actor)"), "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(300))
    town: Mapped[str | None] = mapped_column(String(9))
    client: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(80))
    resource: Mapped[str] = mapped_column(String(200))
    record_type: Mapped[str | None] = mapped_column(String(20))
    record_id: Mapped[str | None] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(128))
    path: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)


def record_read(
    session: AsyncSession, request: Request, principal: Principal, *, at: datetime, action: str, resource: str,
    records: Iterable[tuple[str, str]] = (), detail: str | None = None,
) -> None:
    """Stage audit rows in the caller's transaction (commit them with the read's unit of work):
    one per ``records`` item (record type, record id), or a single row without a record when the
    read showed none. ``detail``: filters and counts only — never an ID number, name or account."""
    client = client_of(request, principal)
    request_id = request_id_of(request)
    common = {
        "at": at, "actor": principal.subject, "roles": " ".join(sorted(principal.roles | principal.scopes)),
        "town": principal.town, "client": client, "action": action, "resource": resource,
        "request_id": request_id, "path": request.url.path, "detail": detail,
    }
    rows = [AuditRead(**common, record_type=kind, record_id=str(ident)[:64]) for kind, ident in records]
    session.add_all(rows or [AuditRead(**common, record_type=None, record_id=None)])


# -- the query endpoint ------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1/subsidy", tags=["audit"])


class AuditOut(BaseModel):
    """One audited read: who, when, which record (``person`` id, or the ``run`` of a bank file),
    in which request (``resource``: the run or roster person asked for), through which client."""

    id: int
    at: datetime
    actor: str
    roles: list[str]
    town: str | None
    client: str | None
    action: str
    resource: str
    record_type: str | None
    record_id: str | None
    request_id: str | None
    path: str | None
    detail: str | None

    @classmethod
    def of(cls, row: AuditRead) -> AuditOut:
        return cls(id=row.id, at=row.at, actor=row.actor, roles=row.roles.split(), town=row.town, client=row.client,
                   action=row.action, resource=row.resource, record_type=row.record_type, record_id=row.record_id,
                   request_id=row.request_id, path=row.path, detail=row.detail)


@router.get("/audit-log", response_model=Page[AuditOut])
async def audit_log(
    actor: str | None = Query(None, max_length=200),
    record_id: str | None = Query(None, max_length=64, description="a registry person id or a run id"),
    record_type: str | None = Query(None, pattern="^(person|run)$"),
    action: str | None = Query(None, max_length=80),
    since: Annotated[BusinessDatetime | None, Query(alias="from", description="at or after (aware instant)")] = None,
    until: Annotated[BusinessDatetime | None, Query(alias="to", description="before (aware instant)")] = None,
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(*AUDIT_READERS)),
) -> Page[AuditOut]:
    """Staff reads of payment lines, bank files and roster persons, newest first (auditor,
    district administrator): who, when, which person or run, through which client. Filters
    (AND): ``actor`` (ignoring case, as usernames are), ``record_id``, ``record_type``, ``action``,
    ``from`` ≤ at < ``to``. 403 for other roles; 422 ``invalid_cursor``, ``timezone_aware``, ``out_of_range``."""
    query = audit_log_query(AuditRead, page, actor=actor, since=since, until=until, equal=(
        (AuditRead.record_id, record_id), (AuditRead.record_type, record_type), (AuditRead.action, action)))
    async with uow:
        rows = [AuditOut.of(r) for r in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda r: [r.id])
