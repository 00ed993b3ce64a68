"""The left-behind registry (R-LB-1): entries and their status history."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.care.models import Base


class LeftBehindEntry(Base):
    """A person registered as left-behind in a category, ``active`` until they leave."""

    __tablename__ = "left_behind_entries"
    __table_args__ = (
        Index("uq_left_behind_active", "person_id", "category", unique=True, postgresql_where=text("status = 'active'")),
        Index("ix_left_behind_town_status", "town", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    category: Mapped[str] = mapped_column(String(10))  # child | elderly | woman
    town: Mapped[str] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    facts: Mapped[dict] = mapped_column(JSONB)
    criteria_trace: Mapped[dict] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10))  # active | left
    entered_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)
    left_reason: Mapped[str | None] = mapped_column(String(30))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeftBehindChange(Base):
    """One step of an entry's history: ``entered``, ``changed`` or ``left``."""

    __tablename__ = "left_behind_changes"

    # A sequence, so the history keeps its order even when steps share a timestamp.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("left_behind_entries.id"), index=True)
    change: Mapped[str] = mapped_column(String(10))
    on: Mapped[date] = mapped_column(Date)
    details: Mapped[dict] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
