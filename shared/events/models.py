"""Infrastructure tables of event passing, present in every service's database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import InfraBase
from shared.events.envelope import CloudEvent


class OutboxEvent(InfraBase):
    """An event committed with the state change that caused it, waiting for the relay."""

    __tablename__ = "outbox_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The relay scans only what is still unpublished.
        Index("ix_outbox_events_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    )

    @classmethod
    def from_envelope(cls, event: CloudEvent) -> OutboxEvent:
        return cls(
            event_id=event.id,
            event_type=event.type,
            envelope=event.model_dump(mode="json", exclude_none=True),
        )


class InboxEvent(InfraBase):
    """An event a consumer has handled: recorded in the handler's own transaction."""

    __tablename__ = "inbox_events"

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200))
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class DeadLetter(InfraBase):
    """A message that failed ``max_deliver`` times; kept for an administrator to inspect."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    deliveries: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
