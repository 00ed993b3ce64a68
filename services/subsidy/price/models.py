"""CPI figures received from the statistics bureau, with their history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, DateTime, Index, Numeric, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from services.subsidy.models import Base


class CpiFigure(Base):
    """A month's CPI and food CPI year-on-year rise (%) as received. A revision supersedes the
    current row (``superseded_at``) instead of editing it; one current row per month."""

    __tablename__ = "cpi_figures"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    month: Mapped[date] = mapped_column(Date)
    cpi_yoy_pct: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    food_cpi_yoy_pct: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    released_on: Mapped[date] = mapped_column(Date)
    checked: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_by: Mapped[str] = mapped_column(String(200))
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_cpi_figures_current_month", "month", unique=True, postgresql_where=text("superseded_at IS NULL")),
    )
