"""The projection of eligibility's registry that R-MW-1 needs: per household its town, village and
the flags that make it eligible, and its benefits (granted, not yet ended).

Built only from events (``eligibility.household.registered/changed``, ``eligibility.benefit.granted/
changed/ended``); no name, ID number, phone or address of anybody is kept here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from services.wishes.models import Base


class Family(Base):
    __tablename__ = "families"

    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    town: Mapped[str] = mapped_column(String(9), index=True)
    village: Mapped[str | None] = mapped_column(String(12))
    registered_poor: Mapped[bool] = mapped_column(Boolean, default=False)
    lonely_elderly: Mapped[bool] = mapped_column(Boolean, default=False)
    child_in_difficulty: Mapped[bool] = mapped_column(Boolean, default=False)
    # The household's revision (eligibility counts its changes) and the time of the event the row
    # reflects: an older state arriving late changes nothing.
    revision: Mapped[int | None] = mapped_column(Integer)
    source_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class FamilyBenefit(Base):
    __tablename__ = "family_benefits"

    benefit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean)
    source_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
