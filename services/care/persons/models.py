"""Persons under care: the projection of the eligibility registry plus persons registered here.

Tekun persons (特困人员) and their details come from eligibility events; left-behind people and
others who are not in the assistance registry are registered by town staff directly
(``source = "care"``). A care-registered person later seen in an eligibility event (same ID number)
is linked to it rather than duplicated.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Index, Integer, String, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.care.models import Base


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = (
        Index("ix_persons_town_tekun", "town", postgresql_where=text("tekun")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The registry's ids (eligibility service); None for a person registered only here.
    eligibility_person_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    household_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))  # eligibility | care
    name: Mapped[str | None] = mapped_column(String(100))
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True)
    sex: Mapped[str | None] = mapped_column(String(6))
    birth_date: Mapped[date | None] = mapped_column(Date)
    town: Mapped[str] = mapped_column(String(9), index=True)
    village: Mapped[str | None] = mapped_column(String(12))
    disability_grade: Mapped[int | None] = mapped_column(Integer)
    disability_kind: Mapped[str | None] = mapped_column(String(20))
    long_term_care: Mapped[bool] = mapped_column(Boolean, default=False)
    left_behind: Mapped[str | None] = mapped_column(String(10))  # as the registry reports it
    deceased_on: Mapped[date | None] = mapped_column(Date)
    # Tekun support (from eligibility.benefit.granted / ended with category tekun).
    tekun: Mapped[bool] = mapped_column(Boolean, default=False)
    tekun_benefit_id: Mapped[str | None] = mapped_column(String(64))
    tekun_since: Mapped[date | None] = mapped_column(Date)  # first day of the effective month
    tekun_until: Mapped[date | None] = mapped_column(Date)  # first day of the last month payable
    # Current self-care level (R-TK-2), from the latest assessment.
    self_care_level: Mapped[str | None] = mapped_column(String(20))
    level_assessed_on: Mapped[date | None] = mapped_column(Date)
    # Willingness to enter centralized support (集中供养意愿, R-TK-3).
    willing_centralized: Mapped[bool | None] = mapped_column(Boolean)
    willingness_recorded_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class AuditEntry(Base):
    """A read of personal data by staff (who, what, when); never the data itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200), index=True)
    roles: Mapped[list[str]] = mapped_column(JSONB)
    action: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    detail: Mapped[dict] = mapped_column(JSONB, default=dict)
