"""Applications (申请) and their step deadlines in working days."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.eligibility.models import Base


class Application(Base):
    """An application for dibao or tekun moving through the R-DB-9 / R-TK-1 steps."""

    __tablename__ = "applications"
    __table_args__ = (
        Index("ix_applications_town_id", "town", "id"),
        Index("ix_applications_household_id", "household_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    town: Mapped[str] = mapped_column(String(9))
    category: Mapped[str] = mapped_column(String(32))  # dibao, tekun
    # accepted -> investigating -> opinion_given -> notice -> with_approver -> approved | refused
    # (refused -> refusal_notified); withdrawn from any open step
    status: Mapped[str] = mapped_column(String(20))
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[str] = mapped_column(String(200))
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    investigation_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opinion: Mapped[str | None] = mapped_column(String(10))  # approve / refuse
    opinion_note: Mapped[str | None] = mapped_column(Text)
    opinion_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notice_from: Mapped[date | None] = mapped_column(Date)
    notice_until: Mapped[date | None] = mapped_column(Date)
    # Every step taken: [{"step", "at", "by", "note"}] (the file's own log).
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    with_approver_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    refusal_reasons: Mapped[list[str] | None] = mapped_column(JSONB)
    refusal_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApplicationDeadline(Base):
    """A step's deadline (24:00 Asia/Shanghai of ``due_date``); ``met_at`` when the step was done in
    time or late, ``breached_at`` once the worker found it passed (fired once). ``at_risk_at``:
    when ``deadline_warning_working_days`` (1) working days remain (24:00 of the working day
    before them); ``at_risk_fired_at`` once the warning was sent (fired once)."""

    __tablename__ = "application_deadlines"
    __table_args__ = (
        Index("ix_application_deadlines_open", "due_at", postgresql_where=text("met_at IS NULL AND breached_at IS NULL")),
        Index("ix_application_deadlines_at_risk", "at_risk_at",
              postgresql_where=text("met_at IS NULL AND breached_at IS NULL AND at_risk_fired_at IS NULL")),
        Index("ix_application_deadlines_application_id", "application_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"))
    step: Mapped[str] = mapped_column(String(32))
    working_days: Mapped[int | None] = mapped_column()
    starts_on: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at_risk_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at_risk_fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApplicationObjection(Base):
    """An objection (异议) raised during an application's public notice (公示, R-DB-9 / R-TK-1):
    who raised it and what it says, as the town recorded it. While one is ``open`` the file
    cannot go to the approver; the town resolves it: ``upheld`` refuses the application with the
    reason, ``dismissed`` lets it continue (``superseded``: closed because another objection was
    upheld). The objector is personal data: never logged."""

    __tablename__ = "application_objections"
    __table_args__ = (Index("ix_application_objections_application_id", "application_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"))
    town: Mapped[str] = mapped_column(String(9))
    received_on: Mapped[date] = mapped_column(Date)
    objector: Mapped[str] = mapped_column(Text)  # a name, or "anonymous" (匿名)
    objector_kind: Mapped[str] = mapped_column(String(20))  # villager, relative, anonymous, other
    channel: Mapped[str] = mapped_column(String(20))  # in_person, phone, letter, online
    content: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, upheld, dismissed, superseded
    resolution_reason: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
