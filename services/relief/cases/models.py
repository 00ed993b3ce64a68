"""Relief cases, their checks (R-EP-1), payments, history and persisted timers (R-TR-2, R-TR-5)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.relief.models import Base


class ReliefCase(Base):
    """One temporary-relief case (临时救助).

    ``status``: suggested (opened from an eligibility referral, not yet accepted) → open (accepted:
    the SLA clock runs for emergency cases) → approved → paid; or refused; a vagrant's case is
    ``referred`` to the rescue station. Money in yuan. SLA fields (R-TR-2) are set for emergency
    cases; paperwork fields (R-TR-5) when a case was approved with documents missing.
    """

    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    town: Mapped[str] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    applicant_type: Mapped[str] = mapped_column(String(16))
    non_local_category: Mapped[str | None] = mapped_column(String(32))
    person_id: Mapped[str | None] = mapped_column(String(64))
    household_id: Mapped[str | None] = mapped_column(String(64))
    applicant_name: Mapped[str | None] = mapped_column(String(100))
    id_number: Mapped[str | None] = mapped_column(String(18))
    cause: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    amount_requested: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    suggested_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    referral_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    referral_reasons: Mapped[list[str] | None] = mapped_column(JSONB)
    referred_to: Mapped[str | None] = mapped_column(String(64))

    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[str | None] = mapped_column(String(200))
    # R-TR-2: 24:00 Asia/Shanghai of deadline_date; the warning instant; provisional calendar.
    deadline_date: Mapped[date | None] = mapped_column(Date)
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at_risk_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_working_days: Mapped[int | None] = mapped_column(Integer)
    at_risk_working_days: Mapped[int | None] = mapped_column(Integer)

    approver: Mapped[str | None] = mapped_column(String(16))  # town | district
    amount_approved: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refused_by: Mapped[str | None] = mapped_column(String(200))
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # R-TR-5: the deadline of documents missing at approval.
    paperwork_due_date: Mapped[date | None] = mapped_column(Date)
    paperwork_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paperwork_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    paperwork_working_days: Mapped[int | None] = mapped_column(Integer)
    paperwork_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    parameters_used: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    opened_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("kind IN ('emergency', 'expenditure')", name="kind_known"),
        CheckConstraint(
            "status IN ('suggested', 'open', 'approved', 'paid', 'refused', 'referred')", name="status_known"
        ),
        CheckConstraint("applicant_type IN ('registered', 'non_local', 'vagrant')", name="applicant_type_known"),
        CheckConstraint("amount_requested IS NULL OR amount_requested > 0", name="amount_requested_positive"),
        CheckConstraint("amount_approved IS NULL OR amount_approved > 0", name="amount_approved_positive"),
        CheckConstraint("status <> 'paid' OR paid_at IS NOT NULL", name="paid_has_time"),
        Index("ix_cases_town_created", "town", "created_at", "id"),
        Index("ix_cases_created", "created_at", "id"),
        Index("ix_cases_status_deadline", "status", "deadline_at"),
        Index("ix_cases_person", "person_id"),
    )


class CasePayment(Base):
    """The one payment of a case (R-TR-4/5): primary key = case, so it is recorded once."""

    __tablename__ = "case_payments"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reference: Mapped[str] = mapped_column(String(100))
    fund: Mapped[str] = mapped_column(String(16))  # town_reserve | district
    reserve_year: Mapped[int | None] = mapped_column(Integer)
    reserve_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("fund IN ('town_reserve', 'district')", name="fund_known"),
    )


class CaseCheck(Base):
    """A check or visit of the applicant's situation by ``method`` (R-EP-1: phone, WeChat, home visit)."""

    __tablename__ = "case_checks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checked_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("method IN ('phone', 'wechat', 'home_visit')", name="method_known"),)


class CaseHistory(Base):
    """What happened to a case, when and by whom (opened, approved, paid, timers fired …)."""

    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


TIMER_KINDS = ("sla_at_risk", "sla_breach", "paperwork_overdue")


class CaseTimer(Base):
    """A persisted timer of a case: fires once when ``due_at`` has passed (R-TR-2, R-TR-5).

    The worker claims due rows with ``SELECT … FOR UPDATE SKIP LOCKED`` and sets ``fired_at``
    (with ``outcome`` ``fired`` and the emitted ``event_id``, or ``skipped`` when moot) in the
    transaction that stages the event, so however many processes run the loop each timer fires
    exactly once. A timer made moot before it fell due (case paid, refused, papers completed) is
    deleted. The partial index on ``due_at`` of pending timers makes a pass one index probe.
    """

    __tablename__ = "case_timers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("case_id", "kind"),
        CheckConstraint("kind IN ('sla_at_risk', 'sla_breach', 'paperwork_overdue')", name="kind_known"),
        CheckConstraint("(fired_at IS NULL) = (outcome IS NULL)", name="fired_has_outcome"),
        Index("ix_case_timers_pending_due", "due_at", postgresql_where=text("fired_at IS NULL")),
    )
