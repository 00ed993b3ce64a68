"""``Idempotency-Key`` for writes: the same key and body replays the first answer, the same key
with another body is refused (422 ``idempotency_key_reused``).

The record is written in the same transaction as the write it protects, so a write and its
record commit together; a concurrent duplicate loses on the primary key and replays.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import InfraBase
from shared.errors import Problem


class IdempotencyRecord(InfraBase):
    __tablename__ = "idempotency_records"

    scope: Mapped[str] = mapped_column(String(300), primary_key=True)  # principal + method + route
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


def body_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Idempotency:
    """Helper bound to one request: ``replayed = await idem.replay(session)`` then ``idem.record(...)``."""

    def __init__(self, key: str | None, *, scope: str, payload: Any) -> None:
        if key is not None and not (1 <= len(key) <= 200):
            raise Problem(422, "invalid_idempotency_key", "Idempotency-Key must be 1–200 characters")
        self.key = key
        self.scope = scope
        self.hash = body_hash(payload)

    async def replay(self, session: AsyncSession) -> tuple[int, Any] | None:
        """The stored (status, body) for this key, or None; 422 if the key was used with another body."""
        if self.key is None:
            return None
        record = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == self.scope, IdempotencyRecord.key == self.key
            )
        )
        if record is None:
            return None
        if record.body_hash != self.hash:
            raise Problem(
                422, "idempotency_key_reused", "This Idempotency-Key was used with a different request body"
            )
        return record.status, record.response

    def record(self, session: AsyncSession, status: int, response: Any) -> None:
        if self.key is None:
            return
        session.add(
            IdempotencyRecord(scope=self.scope, key=self.key, body_hash=self.hash, status=status, response=response)
        )
