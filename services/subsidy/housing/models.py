"""Safe-housing projects and the milestones they reached."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Numeric, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.subsidy.models import Base


class HousingProject(Base):
    """A house built for a rural dibao / tekun household (R-HS-1); ``stage`` is the last milestone."""

    __tablename__ = "housing_projects"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    household_id: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str] = mapped_column(String(64))
    town: Mapped[str] = mapped_column(String(9), index=True)
    village: Mapped[str | None] = mapped_column(String(12))
    subsidy: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    stage: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    planned_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("subsidy > 0", name="subsidy_positive"),
        CheckConstraint("stage IN ('planned', 'started', 'structure_done', 'accepted')", name="stage_known"),
    )


class HousingMilestone(Base):
    """A milestone reached, with the tranche it releases (paid by the next ``housing`` run)."""

    __tablename__ = "housing_milestones"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("housing_projects.id"), index=True)
    milestone: Mapped[str] = mapped_column(String(20))
    reached_on: Mapped[date] = mapped_column(Date)
    month: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    parameter_version_id: Mapped[int] = mapped_column(BigInteger)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("project_id", "milestone"),)
