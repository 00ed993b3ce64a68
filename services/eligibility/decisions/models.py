"""Decision records (with their trace) and the benefits they grant."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.eligibility.models import Base


class Decision(Base):
    """A decision about a household or person: its outcome, amount and full trace."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_household_id_created_at", "household_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    town: Mapped[str] = mapped_column(String(9))
    category: Mapped[str] = mapped_column(String(32))
    # approval, refusal, reassessment, standard_change, death, move, recorded, gradual_exit_end
    kind: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    assessed_on: Mapped[date] = mapped_column(Date)
    effective_month: Mapped[date | None] = mapped_column(Date)
    monthly_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    benefit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    application_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    rules: Mapped[list[str]] = mapped_column(JSONB)
    trace: Mapped[dict[str, Any]] = mapped_column(JSONB)
    decided_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Benefit(Base):
    """A benefit being paid (or ended): who, which category, how much a month, from/to when.

    ``basis_members`` and ``basis_net_income_12m`` are the figures of the last assessment (R-DB-4
    for dibao; the member's own income for single-person inclusion), so a new standard can be
    applied to every benefit in one set-based statement.
    """

    __tablename__ = "benefits"
    __table_args__ = (
        Index("ix_benefits_household_id", "household_id"),
        Index("ix_benefits_person_id", "person_id"),
        Index("ix_benefits_category_status", "category", "status"),
        # One live benefit of a category per household (dibao) or per person (the others).
        Index("uq_benefits_live_household", "household_id", "category", unique=True,
              postgresql_where=text("status <> 'ended' AND category = 'dibao'")),
        Index("uq_benefits_live_person", "person_id", "category", unique=True,
              postgresql_where=text("status <> 'ended' AND category <> 'dibao'")),
        Index("ix_benefits_review_on", "review_on", postgresql_where=text("review_on IS NOT NULL")),
        # Room on each page so a recalculation's updates (no indexed column changes) stay HOT.
        {"postgresql_with": {"fillfactor": "70"}},
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    town: Mapped[str] = mapped_column(String(9))
    village: Mapped[str] = mapped_column(String(12))
    category: Mapped[str] = mapped_column(String(32))
    monthly_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    members: Mapped[list[str]] = mapped_column(JSONB)
    effective_month: Mapped[date] = mapped_column(Date)
    last_month: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, gradual_exit, ended
    gradual_exit_until: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(40))
    decision_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    rule: Mapped[str] = mapped_column(String(20))
    amount_basis: Mapped[str] = mapped_column(String(20), default="rule")
    # The date whose registry figures the amount rests on (a death or move reassesses from them).
    assessed_on: Mapped[date | None] = mapped_column(Date)
    basis_members: Mapped[int] = mapped_column(Integer, default=1)
    basis_net_income_12m: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal(0))
    # R-TK-1: the day a tekun support granted only as a minor must be reviewed (the 18th
    # birthday); the review worker reassesses then (None: nothing due).
    review_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BenefitPeriod(Base):
    """The history of a benefit's amount (R-DB-8): from ``from_month`` on, the benefit pays
    ``monthly_amount`` for ``members`` persons in ``town`` — until a period recorded later takes
    over from its own ``from_month`` (a later row always wins for the months it covers), and never
    after the benefit's ``last_month``. One row per grant and per change (set-based for a new
    standard). Read in full scans by the KPI query only, so no secondary index."""

    __tablename__ = "benefit_periods"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    benefit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("benefits.id"))
    from_month: Mapped[date] = mapped_column(Date)
    monthly_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    members: Mapped[int] = mapped_column(Integer)
    town: Mapped[str] = mapped_column(String(9))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
