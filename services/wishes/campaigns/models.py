"""Campaigns, the per-village wish counters that enforce the quota, and the wishes themselves."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Integer, Numeric, String,
    Text, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.wishes.models import Base

WISH_STATUSES = ("submitted", "rejected", "published", "fully_pledged", "delivered", "confirmed", "closed")
CATEGORIES = ("daily_necessities", "food", "clothing", "study", "appliance", "medical_aid", "housing", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Campaign(Base):
    """A "505" campaign (微光成炬): each village may enter ``village_quota`` wishes."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    village_quota: Mapped[int] = mapped_column(Integer)
    quota_parameter_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("parameters.id"))
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("village_quota >= 1", name="quota_positive"),
        CheckConstraint(_in("status", ("open", "closed")), name="status"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),
    )


class CampaignVillage(Base):
    """How many wishes a village holds in a campaign (rejected ones are given back).

    The quota is enforced here by the database: the counter is raised with a conditional upsert
    and ``CHECK (wishes <= quota)`` refuses anything past it, whatever the concurrency (R-MW-1).
    """

    __tablename__ = "campaign_villages"

    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id"), primary_key=True)
    village: Mapped[str] = mapped_column(String(12), primary_key=True)
    town: Mapped[str] = mapped_column(String(9))
    quota: Mapped[int] = mapped_column(Integer)
    wishes: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (CheckConstraint("wishes >= 0 AND wishes <= quota", name="within_quota"),)


class Wish(Base):
    """A family's micro-wish (微心愿). ``pledged`` never exceeds ``cost`` (R-MW-3): the CHECK below."""

    __tablename__ = "wishes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id"))
    household_id: Mapped[str] = mapped_column(String(64))
    town: Mapped[str] = mapped_column(String(9))
    village: Mapped[str] = mapped_column(String(12))
    family_type: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, server_default="")
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    pledged: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    status: Mapped[str] = mapped_column(String(16), server_default="submitted")
    entered_by: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fully_pledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by: Mapped[str | None] = mapped_column(String(16))  # family | village
    confirmation_recorded_by: Mapped[str | None] = mapped_column(String(200))
    confirmation_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("cost > 0", name="cost_positive"),
        CheckConstraint("pledged >= 0", name="pledged_not_negative"),
        CheckConstraint("pledged <= cost", name="pledged_within_cost"),
        CheckConstraint(_in("status", WISH_STATUSES), name="status"),
        CheckConstraint(_in("category", CATEGORIES), name="category"),
        CheckConstraint("confirmed_by IS NULL OR confirmed_by IN ('family', 'village')", name="confirmed_by"),
        # One live wish per family and campaign (a rejected one may be replaced).
        Index(
            "uq_wishes_campaign_household_live", "campaign_id", "household_id", unique=True,
            postgresql_where=text("status <> 'rejected'"),
        ),
        Index("ix_wishes_board", "status", "town", "id"),
        Index("ix_wishes_campaign_village", "campaign_id", "village"),
    )
