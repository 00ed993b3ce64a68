"""Staging many events at once in the outbox (the sweeps fire thousands in one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert

from shared.db import UnitOfWork
from shared.events.envelope import new_event
from shared.events.models import OutboxEvent


async def emit_many(uow: UnitOfWork, event_type: str, items: Sequence[tuple[str, Any]]) -> None:
    """Stage ``event_type`` once per ``(subject, data)`` in ``uow``'s transaction with a single
    multi-row INSERT (what ``uow.emit`` does row by row); the relay is woken at commit."""
    if not items:
        return
    now = uow.now()
    envelopes = [
        new_event(event_type, data, source=uow.source, subject=subject, time=now, correlation_id=uow.correlation_id)
        for subject, data in items
    ]
    await uow.session.execute(
        insert(OutboxEvent.__table__),
        [
            {"event_id": e.id, "event_type": e.type, "envelope": e.model_dump(mode="json", exclude_none=True)}
            for e in envelopes
        ],
    )
    uow.emitted.extend(envelopes)
