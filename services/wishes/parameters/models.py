"""Versioned policy parameters: one row per version of a parameter, in force from ``valid_from``
to ``valid_to`` (inclusive; null = still in force)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Identity, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from services.wishes.models import Base


class ParameterVersion(Base):
    __tablename__ = "parameters"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    value: Mapped[str] = mapped_column(String(100))
    rule: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    created_by: Mapped[str] = mapped_column(String(200), server_default="migration")

    __table_args__ = (
        UniqueConstraint("name", "valid_from"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
    )
