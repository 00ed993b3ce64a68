"""``Idempotency-Key`` for writes: the same key and body replays the first answer, the same key
with another body is refused (422 ``idempotency_key_reused``).

The record is written in the same transaction as the write it protects, so a write and its
record commit together. Requests with the same scope and key are serialized: :meth:`Idempotency.replay`
first takes a transaction-scoped advisory lock on them, so a concurrent duplicate waits until the
first commits (and then replays its answer) or rolls back (and then runs itself) — never a
duplicate-key error, nor a second write refused as a conflict with the first.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, func, select, text
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


def lock_id(scope: str, key: str) -> int:
    """The advisory-lock id (signed 64 bits) of ``(scope, key)``; a collision only serializes two
    unrelated requests."""
    digest = hashlib.blake2b(f"{scope}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Idempotency:
    """Helper bound to one request: ``replayed = await idem.replay(session)`` then ``idem.record(...)``."""

    def __init__(self, key: str | None, *, scope: str, payload: Any) -> None:
        """422 ``invalid_idempotency_key`` unless ``key`` is None or 1–200 characters."""
        if key is not None and not (1 <= len(key) <= 200):
            raise Problem(422, "invalid_idempotency_key", "Idempotency-Key must be 1–200 characters")
        self.key = key
        self.scope = scope
        self.hash = body_hash(payload)

    async def replay(self, session: AsyncSession) -> tuple[int, Any] | None:
        """The stored (status, body) for this key, or None; 422 ``idempotency_key_reused`` if the
        key was used with another body.

        Takes the key's advisory lock first (held until the session's transaction ends): call it
        in the transaction that then writes and :meth:`record`s, before the write. The look-up is
        a statement of its own after the lock, so under READ COMMITTED (the suite's level) it sees
        what a concurrent duplicate committed while this one waited.
        """
        if self.key is None:
            return None
        await session.execute(select(func.pg_advisory_xact_lock(lock_id(self.scope, self.key))))
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
        """Stage the answer (``status``, JSON ``response``) for this key in the session's transaction."""
        if self.key is None:
            return
        session.add(
            IdempotencyRecord(scope=self.scope, key=self.key, body_hash=self.hash, status=status, response=response)
        )
