"""Registry tables: households, persons (one row per person across the district), incomes,
expenditure, assets, change history, read audit log and towns' registered population."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.eligibility.models import Base


class Household(Base):
    """A household (家庭) of the district: where it lives, its poverty-alleviation status flags."""

    __tablename__ = "households"
    __table_args__ = (
        Index("ix_households_town_id", "town", "id"),
        Index("ix_households_monitoring_due", "monitoring_due_on", postgresql_where=text("monitoring_due_on IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    town: Mapped[str] = mapped_column(String(9))
    village: Mapped[str] = mapped_column(String(12))
    address: Mapped[str] = mapped_column(Text)
    registered_poor: Mapped[bool] = mapped_column(Boolean, default=False)  # 建档立卡
    ex_poor: Mapped[bool] = mapped_column(Boolean, default=False)  # 已脱贫
    edge: Mapped[bool] = mapped_column(Boolean, default=False)  # 建档立卡边缘 / 低保边缘
    lonely_elderly: Mapped[bool] = mapped_column(Boolean, default=False)  # 孤寡老人
    irregular_income: Mapped[bool] = mapped_column(Boolean, default=False)
    department_data: Mapped[bool] = mapped_column(Boolean, default=False)  # R-RM-1
    head_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(20), default="active")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    monitoring_due_on: Mapped[date | None] = mapped_column(Date)
    monitoring_signature: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Person(Base):
    """A person (居民), one row per resident ID number across the district."""

    __tablename__ = "persons"
    __table_args__ = (Index("ix_persons_household_id", "household_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(Text)
    sex: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[date] = mapped_column(Date)
    relation: Mapped[str] = mapped_column(String(20))
    living_together: Mapped[bool] = mapped_column(Boolean, default=True)  # 共同生活
    able_to_work: Mapped[bool] = mapped_column(Boolean, default=False)
    disability_grade: Mapped[int | None] = mapped_column(SmallInteger)
    disability_kind: Mapped[str | None] = mapped_column(String(20))
    disability_certificate: Mapped[str | None] = mapped_column(String(40))
    long_term_care: Mapped[bool] = mapped_column(Boolean, default=False)
    serious_illness: Mapped[bool] = mapped_column(Boolean, default=False)
    school_enrolment: Mapped[str] = mapped_column(String(24), default="none")
    work_injury_care_allowance: Mapped[bool] = mapped_column(Boolean, default=False)
    bank_account: Mapped[str | None] = mapped_column(String(40))
    left_behind: Mapped[str | None] = mapped_column(String(10))
    orphan: Mapped[str | None] = mapped_column(String(16))
    child_without_care: Mapped[bool] = mapped_column(Boolean, default=False)
    revolutionary_veteran: Mapped[bool] = mapped_column(Boolean, default=False)
    supporters: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    parents: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active, deceased, moved_away
    deceased_on: Mapped[date | None] = mapped_column(Date)
    moved_on: Mapped[date | None] = mapped_column(Date)
    # R-TK-2 self-care level as the care service last assessed it (care.selfcare.assessed):
    # self_care, partial_loss, full_loss; recorded on the tekun decisions' traces.
    self_care_level: Mapped[str | None] = mapped_column(String(16))
    self_care_assessed_on: Mapped[date | None] = mapped_column(Date)
    self_care_assessment_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Income(Base):
    """Income of a household (or one member) over ``first_month`` .. ``last_month``, by source."""

    __tablename__ = "incomes"
    __table_args__ = (Index("ix_incomes_household_id", "household_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    source: Mapped[str] = mapped_column(String(32))
    first_month: Mapped[date] = mapped_column(Date)
    last_month: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reported_by: Mapped[str] = mapped_column(String(40), default="household")
    reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Expenditure(Base):
    """Rigid expenditure (刚性支出) of a household over ``first_month`` .. ``last_month``."""

    __tablename__ = "expenditures"
    __table_args__ = (
        Index("ix_expenditures_household_id", "household_id"),
        Index("uq_expenditures_source_reference", "reported_by", "reference", unique=True,
              postgresql_where=text("reference IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    category: Mapped[str] = mapped_column(String(32))
    first_month: Mapped[date] = mapped_column(Date)
    last_month: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reported_by: Mapped[str] = mapped_column(String(40), default="household")
    reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Asset(Base):
    """An asset of a household (R-DB-3 asset test)."""

    __tablename__ = "assets"
    __table_args__ = (Index("ix_assets_household_id", "household_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    disqualifying: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HouseholdChange(Base):
    """One change of a household or member: who, when, through which client, what changed."""

    __tablename__ = "household_history"
    __table_args__ = (Index("ix_household_history_household_id_id", "household_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    client: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)


class AuditEntry(Base):
    """A staff read of a person's record (who, when, which record, through which client)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_record_id", "record_id"),
        # Usernames are unique ignoring case (gateway): an auditor's ``actor`` filter is too.
        Index("ix_audit_log_actor_lower_id", text("lower(actor)"), "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSONB)
    town: Mapped[str | None] = mapped_column(String(9))
    client: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    household_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    request_id: Mapped[str | None] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(Text)


class TownPopulation(Base):
    """The registered population (户籍人口) of a town in a year, for coverage rates (R-DB-8)."""

    __tablename__ = "town_populations"

    town: Mapped[str] = mapped_column(String(9), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    registered_population: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
