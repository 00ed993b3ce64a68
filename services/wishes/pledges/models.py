"""Donors (persons or organizations, keyed by their account's token ``sub``) and their pledges."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Integer, Numeric, String, Text, Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.wishes.models import Base

PLEDGE_STATUSES = ("active", "delivered", "fulfilled", "expired")
DONOR_KINDS = ("person", "organization")


class Donor(Base):
    """A donor's profile; ``subject`` is the ``sub`` of the donor's token (gateway account)."""

    __tablename__ = "donors"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), server_default="person")
    display_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint("kind IN ('person', 'organization')", name="kind"),)


class Pledge(Base):
    """One donor's pledge of ``amount`` yuan to one wish (a request may hold several: ``request_id``)."""

    __tablename__ = "pledges"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    wish_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("wishes.id"))
    donor_subject: Mapped[str] = mapped_column(String(200), ForeignKey("donors.subject"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    pledged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pledge_days: Mapped[int] = mapped_column(Integer)
    pledge_days_parameter_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("parameters.id"))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_by: Mapped[str | None] = mapped_column(String(200))
    delivery_note: Mapped[str | None] = mapped_column(Text)
    fulfilled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Fired-once marker of the expiry sweep (status 'expired' is set in the same statement).
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('active', 'delivered', 'fulfilled', 'expired')", name="status"),
        Index("ix_pledges_donor", "donor_subject", "id"),
        Index("ix_pledges_wish", "wish_id", "status"),
        # The expiry sweep scans only pledges still awaiting delivery.
        Index("ix_pledges_due", "expires_at", postgresql_where=text("status = 'active'")),
    )
