"""Volunteers, visit plans, visits and follow-up referrals (R-LB-2, R-EP-1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from services.care.models import Base


class Volunteer(Base):
    """A member of the 505 volunteer guardianship team (505志愿守护队伍) or a care worker: a gateway
    user, identified by the token's ``sub``."""

    __tablename__ = "volunteers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    sub: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # volunteer | care_worker
    town: Mapped[str] = mapped_column(String(9), index=True)
    team: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VisitPlan(Base):
    """A person's visit plan: a visit every ``interval_days`` by the paired visitor."""

    __tablename__ = "visit_plans"
    __table_args__ = (
        # A visitor's due list (the mobile app): active plans by due date.
        Index("ix_visit_plans_volunteer_due", "volunteer_id", "next_due", "id", postgresql_where=text("status = 'active'")),
        # The overdue sweep: active plans not yet reported overdue for their current due date.
        Index("ix_visit_plans_overdue_claim", "next_due", postgresql_where=text("status = 'active' AND overdue_fired_at IS NULL")),
        Index("uq_visit_plans_active", "person_id", "category", unique=True, postgresql_where=text("status = 'active'")),
        Index("ix_visit_plans_town_due", "town", "next_due"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    category: Mapped[str] = mapped_column(String(30))
    town: Mapped[str] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    volunteer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("volunteers.id"))
    interval_days: Mapped[int] = mapped_column(Integer)
    parameter_version_id: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    next_due: Mapped[date] = mapped_column(Date)
    last_visit_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))  # active | ended
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(30))
    # Fired-once marker: set when the current due date passed unvisited (event sent); cleared when
    # a visit moves the due date.
    overdue_fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Visit(Base):
    """A visit (or phone/WeChat check, R-EP-1) made under a plan."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_plan_on", "plan_id", "visited_on"), Index("ix_visits_due", "due_on"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_plans.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    town: Mapped[str] = mapped_column(String(9))
    visited_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(20))  # phone | wechat | home_visit
    findings: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date] = mapped_column(Date)
    on_time: Mapped[bool] = mapped_column(Boolean)
    visited_by: Mapped[str] = mapped_column(String(200))  # the token's sub
    volunteer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("volunteers.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Referral(Base):
    """A follow-up of a visit: the person is referred to relief or eligibility."""

    __tablename__ = "referrals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    town: Mapped[str] = mapped_column(String(9), index=True)
    to: Mapped[str] = mapped_column(String(20))  # relief | eligibility
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
