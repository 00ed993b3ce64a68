"""Audit trail of staff reads of personal data (ARCHITECTURE.md, Security: every read of a
person's record by staff is audited) — payment lines, bank files, roster persons."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.subsidy.models import Base
from shared.auth import Principal


class AuditRead(Base):
    """Who read which personal data, when (never the data itself)."""

    __tablename__ = "audit_reads"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    principal: Mapped[str] = mapped_column(String(200), index=True)
    roles: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(80))
    resource: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)


def record_read(session: AsyncSession, principal: Principal, *, at: datetime, action: str, resource: str, detail: str | None = None) -> None:
    """Stage an audit row in the caller's transaction (commit it with the read's unit of work)."""
    session.add(AuditRead(
        at=at,
        principal=principal.subject,
        roles=" ".join(sorted(principal.roles | principal.scopes)),
        action=action,
        resource=resource,
        detail=detail,
    ))
