"""Tables of the household assistance chain (一户一条救助链), in the gateway's own database.

The chain is a projection: the gateway's durable consumers write one :class:`ChainEntry` per
relevant event of the five services (``gateway/reports/handlers.py``) and keep, per household, the
town it currently belongs to (:class:`ChainHousehold`) for scoping. Reads never call a service.
No row holds a name, ID number, phone, address or bank account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base


class ChainHousehold(Base):
    """A household seen in any event: its current ``town`` / ``village`` for scoping.

    ``revision`` is the last ``eligibility.household.*`` revision applied (None while the town
    only comes from another service's event, which never overrides the registry's)."""

    __tablename__ = "chain_households"

    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    town: Mapped[str | None] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    revision: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChainEntry(Base):
    """One event of a household's chain: when (the event's ``time``), which service and type,
    the entity it is about (``subject``), a short Chinese ``summary`` and non-personal ``data``.

    The chain is ordered by ``occurred_at``, then ``step`` (the type's place in the lifecycle:
    events of one instant, e.g. a pledge and the wish becoming fully pledged, read in the order
    they happen whatever order they arrived in), then ``id``."""

    __tablename__ = "chain_entries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    service: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(80))
    step: Mapped[int] = mapped_column(SmallInteger)
    subject: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    event_id: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        # One entry per event and household (a move names two households).
        UniqueConstraint("event_id", "household_id"),
        Index("ix_chain_entries_household_time", "household_id", "occurred_at", "step", "id"),
    )
