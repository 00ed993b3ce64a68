"""The towns' reserve funds (备用金): one balance row per town and year, and its ledger (R-TR-4).

The balance never goes below zero: the account row is locked (``SELECT … FOR UPDATE``) for every
entry, and the database refuses a negative or inconsistent balance by CHECK constraints, whatever
the code does.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.relief.models import Base

ENTRY_KINDS = ("allocation", "top_up", "payment")


class ReserveAccount(Base):
    """Town ``town``'s reserve for calendar year ``year``: ``allocated`` (the year's allocation),
    ``topped_up`` (sum of top-ups), ``paid`` (sum of relief paid from it) and ``balance`` (left),
    all yuan."""

    __tablename__ = "reserve_accounts"

    town: Mapped[str] = mapped_column(String(9), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    allocated: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    topped_up: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    paid: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    balance: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("balance = allocated + topped_up - paid", name="balance_consistent"),
        CheckConstraint("allocated >= 0 AND topped_up >= 0 AND paid >= 0", name="sums_not_negative"),
    )


class ReserveEntry(Base):
    """One ledger line: an ``allocation`` (once per town and year), a ``top_up`` or a ``payment``
    (of relief case ``case_id``, once per case); ``balance_after`` is the balance it left."""

    __tablename__ = "reserve_entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    town: Mapped[str] = mapped_column(String(9))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    balance_after: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reference: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    booked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    booked_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        ForeignKeyConstraint(["town", "year"], ["reserve_accounts.town", "reserve_accounts.year"]),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        CheckConstraint("kind IN ('allocation', 'top_up', 'payment')", name="kind_known"),
        CheckConstraint("(kind = 'payment') = (case_id IS NOT NULL)", name="payment_has_case"),
        Index("ix_reserve_entries_account", "town", "year", "id"),
        # One allocation per town and year; one payment per case.
        Index("uq_reserve_entries_allocation", "town", "year", unique=True, postgresql_where=text("kind = 'allocation'")),
        Index("uq_reserve_entries_case", "case_id", unique=True, postgresql_where=text("case_id IS NOT NULL")),
    )
