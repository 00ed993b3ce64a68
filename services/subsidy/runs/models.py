"""Payment runs, their lines, and the bank returns received.

The never-pay-twice guarantee (R-DS-3) is a database constraint: the partial unique index
``uq_payment_lines_once`` allows one line per (person, benefit, month) among the lines that are
payable or paid, whatever runs, retries or concurrent transactions try. Dropped and failed lines
are outside it (a failed line is carried into a later run as a new payable line).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.subsidy.models import Base

RUN_STATUSES = ("created", "checked", "approved", "issued", "reconciled")
LINE_STATUSES = ("payable", "dropped", "paid", "failed")


class PaymentRun(Base):
    """One month's payment of one benefit group; at most one per (month, group)."""

    __tablename__ = "payment_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    month: Mapped[date] = mapped_column(Date)
    benefit_group: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str | None] = mapped_column(String(200))
    reconciled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Parameter versions and figures the snapshot used (the run's trace).
    trace: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    lines_total: Mapped[int] = mapped_column(Integer, default=0)
    lines_payable: Mapped[int] = mapped_column(Integer, default=0)
    lines_dropped: Mapped[int] = mapped_column(Integer, default=0)
    lines_carried_in: Mapped[int] = mapped_column(Integer, default=0)
    # The snapshot inserts all of a run's lines in one statement: their ids lie in this range.
    first_line_id: Mapped[int | None] = mapped_column(BigInteger)
    last_line_id: Mapped[int | None] = mapped_column(BigInteger)
    # The months its lines pay (the run's month, and those of lines carried in) and the xmin of
    # the snapshot's transaction: the re-check at the bank file looks at later changes only.
    line_months: Mapped[list[date] | None] = mapped_column(ARRAY(Date))
    snapshot_xmin: Mapped[int | None] = mapped_column(BigInteger)
    amount_payable: Mapped[Decimal] = mapped_column(Numeric(16, 2), default=Decimal("0.00"))
    bank_count: Mapped[int | None] = mapped_column(Integer)
    bank_total: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    step_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("month", "benefit_group"),
        CheckConstraint("status IN ('created', 'checked', 'approved', 'issued', 'reconciled')", name="status_known"),
    )


class PaymentLine(Base):
    """Who is paid what for which month in a run; ``status`` payable → paid | failed, or dropped
    (with ``drop_reason``) by the cross-check at the snapshot or when the bank file is issued."""

    __tablename__ = "payment_lines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # No foreign key: lines are only ever written by their run's own snapshot statement (the run
    # row locked), and a per-row RI check would cost a third of a million-line snapshot.
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_id: Mapped[str] = mapped_column(String(64))
    # Whose account is paid: the person, or for a household benefit's members the benefit's payee.
    payee_id: Mapped[str] = mapped_column(String(64))
    household_id: Mapped[str | None] = mapped_column(String(64))
    benefit_id: Mapped[str | None] = mapped_column(String(64))
    benefit: Mapped[str] = mapped_column(String(40))
    month: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    town: Mapped[str | None] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    payee_name: Mapped[str | None] = mapped_column(Text)
    bank_account: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))
    drop_reason: Mapped[str | None] = mapped_column(String(40))
    dropped_stage: Mapped[str | None] = mapped_column(String(12))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    carried_from_line_id: Mapped[int | None] = mapped_column(BigInteger)
    carried_to_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (
        # Month first: the snapshot reads the lines live for a month and benefit as a range.
        Index(
            "uq_payment_lines_once", "month", "benefit", "person_id", unique=True,
            postgresql_where=text("status IN ('payable', 'paid')"),
        ),
        Index("ix_payment_lines_dropped", "run_id", postgresql_where=text("status = 'dropped'")),
        Index("ix_payment_lines_to_carry", "benefit", postgresql_where=text("status = 'failed' AND carried_to_run_id IS NULL")),
        Index("ix_payment_lines_housing", "benefit_id", postgresql_where=text("benefit LIKE 'housing_%'")),
        CheckConstraint("status IN ('payable', 'dropped', 'paid', 'failed')", name="status_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("status <> 'dropped' OR drop_reason IS NOT NULL", name="dropped_has_reason"),
    )


class BankReturn(Base):
    """A bank return file accepted (rejected ones store nothing)."""

    __tablename__ = "bank_returns"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_by: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int] = mapped_column(Integer)
    paid: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    body_hash: Mapped[str] = mapped_column(String(64))
