"""阳光1+1 (R-OA-2): old-area villages, social organizations, their pairings and projects."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Numeric, String, Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.wishes.models import Base

PAIRING_STATUSES = ("active", "suspended", "ended")
PROJECT_STATUSES = ("planned", "in_progress", "completed", "cancelled")
ORGANIZATION_KINDS = ("social_organization", "enterprise", "charity", "volunteer_team", "other")


class OldAreaVillage(Base):
    """A village the district designates as an old revolutionary-area village (老区村)."""

    __tablename__ = "old_area_villages"

    village: Mapped[str] = mapped_column(String(12), primary_key=True)
    town: Mapped[str] = mapped_column(String(9), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    designated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    designated_by: Mapped[str] = mapped_column(String(200))


class Organization(Base):
    """A social organization (社会组织) taking part in 阳光1+1."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), server_default="social_organization")
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint(
            "kind IN ('social_organization', 'enterprise', 'charity', 'volunteer_team', 'other')", name="kind"
        ),
    )


class Pairing(Base):
    """An organization paired with an old-area village (结对帮扶)."""

    __tablename__ = "pairings"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id"))
    village: Mapped[str] = mapped_column(String(12), ForeignKey("old_area_villages.village"))
    town: Mapped[str] = mapped_column(String(9))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended', 'ended')", name="status"),
        # One live pairing per organization and village.
        Index(
            "uq_pairings_live", "organization_id", "village", unique=True,
            postgresql_where=text("status <> 'ended'"),
        ),
        Index("ix_pairings_town", "town", "id"),
    )


class PairingProject(Base):
    """A project of a pairing (帮扶项目): what the organization does for the village."""

    __tablename__ = "pairing_projects"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    pairing_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("pairings.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    status: Mapped[str] = mapped_column(String(16), server_default="planned")
    started_on: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('planned', 'in_progress', 'completed', 'cancelled')", name="status"),
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget"),
    )
