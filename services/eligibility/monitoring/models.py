"""Risk assessments of return-to-poverty monitoring and the referrals they create (R-RM-5)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Numeric, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.eligibility.models import Base


class RiskAssessment(Base):
    """One evaluation of a household (on a change or in the daily sweep) with its flags."""

    __tablename__ = "risk_assessments"
    __table_args__ = (Index("ix_risk_assessments_household_id_id", "household_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    town: Mapped[str] = mapped_column(String(9))
    assessed_on: Mapped[date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(40))
    monitored: Mapped[bool] = mapped_column(Boolean)
    covered: Mapped[bool] = mapped_column(Boolean)
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    trace: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Referral(Base):
    """A caseworker task created by monitoring: assess the household, or consider
    expenditure-type temporary relief (R-RM-5)."""

    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_town_status", "town", "status"),
        Index("uq_referrals_open", "household_id", "kind", unique=True, postgresql_where=text("status = 'open'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    town: Mapped[str] = mapped_column(String(9))
    kind: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list[str]] = mapped_column(JSONB)
    suggested_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    risk_assessment_id: Mapped[int | None] = mapped_column(BigInteger)
    # monitoring (R-RM-5) or care (a ``care.referral.created`` addressed to eligibility)
    source: Mapped[str] = mapped_column(String(20), default="monitoring")
    source_ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, closed
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(200))
