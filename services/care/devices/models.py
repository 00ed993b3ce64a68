"""Monitoring devices registered to persons and the alerts they raise (R-LB-3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from services.care.models import Base


class Device(Base):
    """A device (SOS button, fall detector, smart watch …) installed for a person."""

    __tablename__ = "devices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    serial: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    town: Mapped[str] = mapped_column(String(9), index=True)
    installed_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))  # active | removed
    removed_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """An alert from a device: open → assigned → acknowledged → closed; escalated once when not
    acknowledged by ``ack_deadline``."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("device_id", "external_id"),
        # The escalation sweep: unacknowledged, unescalated, open alerts by deadline.
        Index(
            "ix_alerts_escalation_claim",
            "ack_deadline",
            postgresql_where=text("acknowledged_at IS NULL AND escalated_at IS NULL AND closed_at IS NULL"),
        ),
        Index("ix_alerts_town_received", "town", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    town: Mapped[str] = mapped_column(String(9))
    kind: Mapped[str] = mapped_column(String(20))  # sos | fall | inactivity
    external_id: Mapped[str | None] = mapped_column(String(100))  # the platform's alert id
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ack_minutes: Mapped[int] = mapped_column(Integer)
    parameter_version_id: Mapped[int] = mapped_column(Integer)
    ack_deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))  # open | assigned | acknowledged | closed
    assignee: Mapped[str | None] = mapped_column(String(200))  # a user's sub
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # fired-once marker
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
