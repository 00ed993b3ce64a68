"""Care contracts of dispersed support and their supervisions (R-TK-5)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, PrimaryKeyConstraint, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.care.models import Base


class CareContract(Base):
    """A contract with a care institution for a dispersed tekun person (政府购买服务)."""

    __tablename__ = "care_contracts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    town: Mapped[str] = mapped_column(String(9), index=True)
    institution: Mapped[str] = mapped_column(String(200))
    institution_code: Mapped[str | None] = mapped_column(String(18))  # 统一社会信用代码
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    period_months: Mapped[int] = mapped_column(Integer)
    parameter_version_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))  # active | ended
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Supervision(Base):
    """One of the three supervisions of a period, as done."""

    __tablename__ = "supervisions"
    __table_args__ = (UniqueConstraint("contract_id", "period_start", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_contracts.id"))
    period_start: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    done_on: Mapped[date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(200))
    satisfactory: Mapped[bool] = mapped_column(Boolean)
    findings: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SupervisionOverdue(Base):
    """Fired-once marker: the supervision ``kind`` of a contract's period was reported overdue."""

    __tablename__ = "supervision_overdue"
    __table_args__ = (PrimaryKeyConstraint("contract_id", "period_start", "kind"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_contracts.id"))
    period_start: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
