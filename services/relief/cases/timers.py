"""The SLA and paperwork timer loop (R-TR-2, R-TR-5): persisted timers, each fired exactly once.

A pass claims due timers — ``due_at <= now`` and not fired — with ``SELECT … FOR UPDATE SKIP
LOCKED`` in batches, stages one event per timer in the outbox and sets ``fired_at`` in the same
transaction. A second process running the loop at the same moment skips the rows the first holds
and, once the first commits, no longer finds them pending: each timer fires once, whatever the
number of replicas. Timers live in the database, so a deadline that passed while the service
was down fires on the first pass after start-up. ``now`` is the injected clock's.

Outcomes: ``fired`` (event emitted) or ``skipped`` (moot: an at-risk warning whose deadline has
already passed — the breach says more — or a case no longer waiting for money or papers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from sqlalchemy import insert, select, text

from services.relief import events
from services.relief.cases import rules
from services.relief.cases.models import CaseHistory, CaseTimer, ReliefCase
from shared.clock import ControllableClock
from shared.db import UnitOfWork
from shared.events.envelope import CloudEvent, new_event
from shared.events.models import OutboxEvent

log = structlog.get_logger("relief.timers")


@dataclass
class PassResult:
    """What one pass did: events emitted per kind, timers skipped, batches committed."""

    fired: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    batches: int = 0

    @property
    def total_fired(self) -> int:
        return sum(self.fired.values())


def _event_for(kind: str, due_at: datetime, case: Any, now: datetime) -> tuple[str, dict[str, Any]] | None:
    """The event (type, JSON-ready data) a due timer emits, or None when it is moot (then the
    timer is marked skipped). ``case`` is a row of the cases table."""
    base = events.base_data(case)
    if kind in ("sla_at_risk", "sla_breach"):
        if case.status not in rules.OPEN_STATUSES or case.deadline_at is None:
            return None
        if kind == "sla_at_risk":
            if now >= case.deadline_at:
                return None
            return events.SLA_AT_RISK, events.SlaAtRisk(**base, at_risk_at=due_at).model_dump(mode="json")
        return events.SLA_BREACHED, events.SlaBreached(**base).model_dump(mode="json")
    missing = rules.missing_documents(case.kind, case.documents)
    if case.paperwork_completed_at is not None or not missing or case.status not in ("approved", "paid"):
        return None
    assert case.paperwork_due_at is not None
    return events.PAPERWORK_OVERDUE, events.PaperworkOverdue(
        **base, paperwork_due_at=case.paperwork_due_at, missing_documents=missing).model_dump(mode="json")


_MARK_FIRED = text("""
    UPDATE case_timers AS t SET fired_at = :now, outcome = u.outcome, event_id = u.event_id
    FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS varchar[]), CAST(:event_ids AS varchar[]))
         AS u(id, outcome, event_id)
    WHERE t.id = u.id
""")


async def fire_batch(uow: UnitOfWork, *, batch_size: int, result: PassResult) -> int:
    """Claim up to ``batch_size`` due timers in ``uow`` and fire them; the caller commits.
    Returns the number of timers claimed (0: nothing is due).

    Set-based, so a batch costs a handful of statements: the claim, one read of the cases, one
    INSERT of the outbox rows, one of the history rows and one UPDATE of the fired markers.
    """
    now = uow.now()
    session = uow.session
    timers = (await session.execute(
        select(CaseTimer.id, CaseTimer.case_id, CaseTimer.kind, CaseTimer.due_at)
        .where(CaseTimer.fired_at.is_(None), CaseTimer.due_at <= now)
        .order_by(CaseTimer.due_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )).all()
    if not timers:
        return 0
    # The cases are read, not locked: a payment or refusal in progress holds the case row and
    # waits for these timer rows (it deletes them), so it cannot commit before this batch does.
    cases_table = ReliefCase.__table__
    case_ids = list({t.case_id for t in timers})
    cases = {c.id: c for c in (await session.execute(select(cases_table).where(cases_table.c.id.in_(case_ids)))).all()}
    staged: list[CloudEvent] = []
    history: list[dict[str, Any]] = []
    ids, outcomes, event_ids = [], [], []
    for timer in timers:
        case = cases[timer.case_id]
        fired = _event_for(timer.kind, timer.due_at, case, now)
        ids.append(timer.id)
        if fired is None:
            outcomes.append("skipped")
            event_ids.append(None)
            result.skipped += 1
            continue
        event_type, data = fired
        event = new_event(event_type, data, source=uow.source, subject=str(case.id), time=now,
                          correlation_id=uow.correlation_id)
        staged.append(event)
        outcomes.append("fired")
        event_ids.append(event.id)
        history.append({"case_id": case.id, "at": now, "action": event_type, "actor": "relief.timers",
                        "detail": {"due_at": timer.due_at.isoformat(), "event_id": event.id}})
        result.fired[event_type] = result.fired.get(event_type, 0) + 1
    if staged:
        # The rows UnitOfWork.emit() would add one by one, in one INSERT; registering them in
        # ``uow.emitted`` makes the commit wake the relay as emit() does.
        await session.execute(insert(OutboxEvent.__table__), [
            {"event_id": e.id, "event_type": e.type, "envelope": e.model_dump(mode="json", exclude_none=True)}
            for e in staged
        ])
        uow.emitted.extend(staged)
        await session.execute(insert(CaseHistory.__table__), history)
    await session.execute(_MARK_FIRED, {"now": now, "ids": ids, "outcomes": outcomes, "event_ids": event_ids})
    return len(timers)


async def run_timer_pass(uow_factory: Callable[[str | None], UnitOfWork], *, batch_size: int = 500) -> PassResult:
    """Fire every timer due at the clock's now, one committed batch at a time, until none is left
    (or only rows another process holds). Each batch is its own transaction."""
    result = PassResult()
    while True:
        async with uow_factory(None) as uow:
            claimed = await fire_batch(uow, batch_size=batch_size, result=result)
            if claimed == 0:
                break
            await uow.commit()
            result.batches += 1
        if claimed < batch_size:
            break
    if result.total_fired or result.skipped:
        log.info("relief.timers.pass", fired=result.fired, skipped=result.skipped, batches=result.batches)
    return result


async def _adopt_shared_clock(app: FastAPI) -> None:
    """In demo/test mode, take the gateway's clock before the first pass, so a process that just
    started never fires timers by its own wall-clock time (the shared clock may be years away)."""
    clock = app.state.clock
    settings = app.state.settings
    if not isinstance(clock, ControllableClock) or settings.mode not in ("demo", "test"):
        return
    url = f"{settings.gateway_url}/api/v1/admin/clock"
    while True:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(url)
            if response.status_code == 200:
                state = response.json()
                if state.get("revision", 0) > clock.revision:
                    clock.set(datetime.fromisoformat(state["now"]), running=state["running"], revision=state["revision"])
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        await asyncio.sleep(0.5)


async def sla_timer_worker(app: FastAPI) -> None:
    """Background loop (run supervised by shared.app): a timer pass every
    ``timer_interval_seconds``; the first pass right after start-up fires what fell due while the
    service was down."""
    settings = app.state.settings
    await _adopt_shared_clock(app)
    while True:
        await run_timer_pass(app.state.uow_factory, batch_size=settings.timer_batch_size)
        await asyncio.sleep(settings.timer_interval_seconds)
