"""Registered households and persons, projected from eligibility's events (never written by the API)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from services.relief.models import Base


class RegisteredHousehold(Base):
    """A household of eligibility's registry as of its latest event (``source_time``)."""

    __tablename__ = "registered_households"

    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    town: Mapped[str] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    registered_poor: Mapped[bool] = mapped_column(Boolean, default=False)
    ex_poor: Mapped[bool] = mapped_column(Boolean, default=False)
    edge: Mapped[bool] = mapped_column(Boolean, default=False)
    lonely_elderly: Mapped[bool] = mapped_column(Boolean, default=False)
    source_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RegisteredPerson(Base):
    """A member of a registered household (personal data: shown to staff only, never logged)."""

    __tablename__ = "registered_persons"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(64), index=True)
    town: Mapped[str] = mapped_column(String(9))
    name: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str | None] = mapped_column(String(18), index=True)
    sex: Mapped[str | None] = mapped_column(String(8))
    birth_date: Mapped[date | None] = mapped_column(Date)
    relation: Mapped[str | None] = mapped_column(String(32))
    deceased_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(16))  # eligibility's: active, deceased, moved_away
    # The time of the household event that last changed this row (one repeating it rewrites nothing);
    # the household's own ``source_time`` is what orders the events.
    source_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
