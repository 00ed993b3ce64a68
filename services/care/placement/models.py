"""Care homes and beds, the waiting list and placements in centralized support (R-TK-3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from services.care.models import Base


class CareHome(Base):
    """A care home (rural happiness home 农村幸福院, nursing home 养老院 …) with its beds, nursing
    beds (护理型床位) among them."""

    __tablename__ = "care_homes"
    __table_args__ = (
        CheckConstraint("nursing_beds >= 0 AND beds >= nursing_beds", name="beds"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # rural_happiness_home | nursing_home | welfare_centre
    town: Mapped[str] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    beds: Mapped[int] = mapped_column(Integer)
    nursing_beds: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class PlacementRequest(Base):
    """A willing tekun person on the waiting list for centralized support."""

    __tablename__ = "placement_requests"
    __table_args__ = (
        Index("uq_placement_requests_waiting_person", "person_id", unique=True, postgresql_where=text("status = 'waiting'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    town: Mapped[str] = mapped_column(String(9), index=True)
    requested_on: Mapped[date] = mapped_column(Date)
    preferred_home_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_homes.id"))
    status: Mapped[str] = mapped_column(String(20))  # waiting | placed | withdrawn
    placement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(30))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Placement(Base):
    """A person in a bed of a care home from ``started_on`` until ``ended_on`` (exclusive)."""

    __tablename__ = "placements"
    __table_args__ = (
        Index("uq_placements_active_person", "person_id", unique=True, postgresql_where=text("status = 'active'")),
        Index("ix_placements_home_active", "home_id", postgresql_where=text("status = 'active'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    home_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_homes.id"))
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("placement_requests.id"))
    bed_type: Mapped[str] = mapped_column(String(10))  # nursing | ordinary
    level: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[int | None] = mapped_column(Integer)
    started_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))  # active | ended
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(30))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
