"""Versioned policy parameters (POLICY.md: policy is data)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, DateTime, Integer, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from services.care.models import Base


class ParameterVersion(Base):
    """One version of a parameter: in force from ``valid_from`` to ``valid_to`` (inclusive; None =
    open-ended). Versions of one key never overlap (the service closes the previous one)."""

    __tablename__ = "parameter_versions"
    __table_args__ = (UniqueConstraint("key", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    value: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
