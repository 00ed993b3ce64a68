"""Audit of staff reads of personal data (API.md: "reads of personal data are audited").

Each read of a relief case's applicant details (name, resident ID number) by a member of staff
adds a row here, in the reading request's own transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.relief.models import Base
from shared.auth import Principal
from shared.db import UnitOfWork


class AccessAudit(Base):
    """``principal`` read ``action`` (e.g. ``case.read``) on case ``case_id`` at ``at``."""

    __tablename__ = "access_audit"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    principal: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    town: Mapped[str | None] = mapped_column(String(9))

    __table_args__ = (Index("ix_access_audit_case", "case_id", "at"),)


def record_read(uow: UnitOfWork, principal: Principal, action: str, *, case_id: uuid.UUID | None, town: str | None) -> None:
    """Stage an audit row for a read of personal data (committed with the request's unit of work)."""
    uow.session.add(
        AccessAudit(
            at=uow.now(), principal=principal.subject, roles=",".join(sorted(principal.roles)) or "client",
            action=action, case_id=case_id, town=town,
        )
    )
