"""Projection tables of the roster. Nothing here is entered by hand: every row comes from an event.

Each row keeps the time of the event that last set it (``event_time``), and an older event never
overwrites a newer state, so replaying the streams in any interleaving converges to the same
projection.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Index, Integer, Numeric, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from services.subsidy.models import Base

ID = String(64)


class RosterHousehold(Base):
    __tablename__ = "roster_households"

    household_id: Mapped[str] = mapped_column(ID, primary_key=True)
    town: Mapped[str] = mapped_column(String(9), index=True)
    village: Mapped[str | None] = mapped_column(String(12))
    registered_poor: Mapped[bool] = mapped_column(Boolean, default=False)
    ex_poor: Mapped[bool] = mapped_column(Boolean, default=False)
    edge: Mapped[bool] = mapped_column(Boolean, default=False)
    lonely_elderly: Mapped[bool] = mapped_column(Boolean, default=False)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RosterPerson(Base):
    """A member of a registered household, with what the payments need (account, death, status)."""

    __tablename__ = "roster_persons"

    person_id: Mapped[str] = mapped_column(ID, primary_key=True)
    household_id: Mapped[str | None] = mapped_column(ID, index=True)
    town: Mapped[str | None] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    name: Mapped[str | None] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(String(18))
    sex: Mapped[str | None] = mapped_column(String(10))
    birth_date: Mapped[date | None] = mapped_column(Date)
    relation: Mapped[str | None] = mapped_column(String(40))
    disability_grade: Mapped[int | None] = mapped_column(SmallInteger)
    disability_kind: Mapped[str | None] = mapped_column(String(20))
    long_term_care: Mapped[bool] = mapped_column(Boolean, default=False)
    serious_illness: Mapped[bool] = mapped_column(Boolean, default=False)
    school_enrolment: Mapped[str | None] = mapped_column(String(30))
    work_injury_care_allowance: Mapped[bool] = mapped_column(Boolean, default=False)
    bank_account: Mapped[str | None] = mapped_column(String(64))
    deceased_on: Mapped[date | None] = mapped_column(Date)
    orphan: Mapped[str | None] = mapped_column(String(20))
    child_without_care: Mapped[bool] = mapped_column(Boolean, default=False)
    revolutionary_veteran: Mapped[bool] = mapped_column(Boolean, default=False)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The PostgreSQL transaction (xid8 as bigint) that projected the death or changed its date:
    # the re-check before a bank file looks only at deaths its snapshot could not see.
    deceased_xid: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_roster_persons_deceased_xid", "deceased_xid", postgresql_where=text("deceased_xid IS NOT NULL")),
        Index("ix_roster_persons_disabled", "person_id", postgresql_where=text("disability_grade IS NOT NULL")),
    )


class RosterBenefit(Base):
    """A benefit decided by eligibility, with what its monthly amount is computed from.

    ``amount_basis``: ``gap`` — recompute R-DB-4 each month from ``net_income_12m`` and the
    standard in force; ``fixed`` — pay ``monthly_amount`` (gradual exit, R-DB-6); ``standard`` —
    the amount follows the category's own standard (tekun, orphans, veterans).
    """

    __tablename__ = "roster_benefits"

    benefit_id: Mapped[str] = mapped_column(ID, primary_key=True)
    household_id: Mapped[str | None] = mapped_column(ID, index=True)
    person_id: Mapped[str] = mapped_column(ID, index=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    monthly_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    previous_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    net_income_12m: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    members_count: Mapped[int] = mapped_column(Integer)
    amount_basis: Mapped[str] = mapped_column(String(10))
    effective_month: Mapped[date] = mapped_column(Date)
    last_month: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(40))
    town: Mapped[str | None] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    decision_id: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(20))
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The transaction (xid8 as bigint) that set or changed last_month (see RosterPerson.deceased_xid).
    ended_xid: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_roster_benefits_ended_xid", "ended_xid", postgresql_where=text("ended_xid IS NOT NULL")),
    )


class RosterBenefitMember(Base):
    """A person covered by a benefit (for household benefits every member, else the person)."""

    __tablename__ = "roster_benefit_members"

    benefit_id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)


class RosterCareLevel(Base):
    """A tekun person's latest self-care level (care.selfcare.assessed, R-TK-2)."""

    __tablename__ = "roster_care_levels"

    person_id: Mapped[str] = mapped_column(ID, primary_key=True)
    level: Mapped[str] = mapped_column(String(20))
    assessed_on: Mapped[date] = mapped_column(Date)
    assessment_id: Mapped[str | None] = mapped_column(String(64))
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RosterState(Base):
    """One row: when a rebuild was last requested (runs wait until the replay has caught up)."""

    __tablename__ = "roster_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    rebuild_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rebuild_requested_by: Mapped[str | None] = mapped_column(String(200))
    rebuilding: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class RosterPlacement(Base):
    """A tekun person's centralized-support placement (care.placement.made / .ended, R-TK-3/4)."""

    __tablename__ = "roster_placements"

    placement_id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(ID, index=True)
    home_id: Mapped[str] = mapped_column(ID)
    home_name: Mapped[str | None] = mapped_column(Text)
    bed_type: Mapped[str | None] = mapped_column(String(20))
    level: Mapped[str | None] = mapped_column(String(20))
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CareHomeAccount(Base):
    """The bank account a care home is paid the district's share of centralized-support fees into
    (R-TK-4); entered by the district office (the care service does not hold accounts)."""

    __tablename__ = "care_home_accounts"

    home_id: Mapped[str] = mapped_column(ID, primary_key=True)
    home_name: Mapped[str] = mapped_column(Text)
    bank_account: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))
