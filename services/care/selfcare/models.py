"""Self-care assessments (R-TK-2) and reassessment requests after a reported change (R-TK-1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.care.models import Base


class Assessment(Base):
    """One assessment of the six items; ``level`` follows from ``not_achieved``."""

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_person_on", "person_id", "assessed_on"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    assessed_on: Mapped[date] = mapped_column(Date)
    assessor: Mapped[str] = mapped_column(String(200))  # who assessed (name or staff number)
    not_achieved: Mapped[list[str]] = mapped_column(JSONB)
    level: Mapped[str] = mapped_column(String(20))
    previous_level: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(20))  # initial | review | reassessment
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Reassessment(Base):
    """A reported change of self-care ability, to be reassessed by ``deadline_at`` (R-TK-1)."""

    __tablename__ = "reassessments"
    __table_args__ = (
        # The sweep's claim: open requests not yet reported overdue, by deadline.
        Index(
            "ix_reassessments_due",
            "deadline_at",
            postgresql_where=text("status = 'open' AND overdue_fired_at IS NULL"),
        ),
        # One open request per person.
        Index("uq_reassessments_open_person", "person_id", unique=True, postgresql_where=text("status = 'open'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    town: Mapped[str] = mapped_column(String(9), index=True)
    reported_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))  # staff | registry | visit
    description: Mapped[str | None] = mapped_column(Text)
    working_days: Mapped[int] = mapped_column(Integer)
    parameter_version_id: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)  # the last working day
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    provisional: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))  # open | done | cancelled
    assessment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assessments.id"))
    closed_on: Mapped[date | None] = mapped_column(Date)
    overdue_fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
