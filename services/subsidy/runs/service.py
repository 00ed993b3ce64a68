"""Payment-run use cases (R-DS-2/3 and the amounts of every group's rules).

State machine, persisted on the run row: ``created`` → (snapshot + cross-check, by the worker)
``checked`` → (district approval) ``approved`` → (bank file issued, after re-checking deaths and
ended benefits) ``issued`` → (every line returned by the bank) ``reconciled``. Each step is one
transaction and a no-op when repeated, so a run interrupted anywhere resumes where it stopped
and gives the same result; the figures a run pays are fixed when it is created (``trace``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.subsidy.benefits import rules as benefit_rules
from services.subsidy.common import add_months, format_month
from services.subsidy.parameters.service import Params, params_on
from services.subsidy.price import service as price_service
from services.subsidy.roster.service import ensure_ready
from services.subsidy.runs import rules, sql
from services.subsidy.runs.models import BankReturn, PaymentLine, PaymentRun
from shared.auth import Principal
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import Problem, not_found

log = structlog.get_logger("subsidy.runs")

NUMERIC_BINDS = frozenset({
    "std", "tekun_basic", "care_self_care", "care_partial_loss", "care_full_loss", "living", "nursing_1",
    "nursing_2", "orphan_institutional", "orphan_dispersed", "veteran", "price_amount", "fee_bed", "fee_living",
    "fee_nursing_self_care", "fee_nursing_partial_loss", "fee_nursing_full_loss",
})


# --- figures of a month --------------------------------------------------------------------


def _tekun(params: Params, binds: dict[str, Any]) -> None:
    tiers = params.value("tekun_care_standard")
    amounts = benefit_rules.tekun_amounts(
        standard=params.value("dibao_standard"), basic_factor=params.value("tekun_basic_factor"),
        care_tiers=tiers, level=None,
    )
    binds["tekun_basic"] = amounts.basic
    binds["care_self_care"] = tiers["self_care"]
    binds["care_partial_loss"] = tiers["partial_loss"]
    binds["care_full_loss"] = tiers["full_loss"]


def _grown(params: Params, base_key: str, rate_key: str, part: str | None, year: int) -> Decimal:
    base = params.get(base_key)
    value = base.value[part] if part else base.value
    return benefit_rules.grown_standard(base=value, base_year=base.valid_from.year, rate=params.value(rate_key), year=year)


async def group_figures(*, uow: UnitOfWork, group: str, month: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures a run of ``group`` for ``month`` pays, from the parameters in force on the
    month's first day and the pure rules: (binds for the snapshot statement, the run's trace).

    Errors: 422 ``parameter_missing``; for ``price``: 409 ``cpi_missing`` (no CPI figure for the
    month), 409 ``cpi_not_checked``, 409 ``price_not_triggered`` (R-PS-1).
    """
    params = await params_on(uow.session, month)
    binds: dict[str, Any] = {"benefits": list(rules.GROUPS[group])}
    extra: dict[str, Any] = {}
    if group == "assistance":
        binds["std"] = params.value("dibao_standard")
        _tekun(params, binds)
        fees = params.value("centralized_support_fees")  # R-TK-4
        binds.update({f"fee_{k}": v for k, v in fees.items()})
    elif group == "disability":
        binds["living"] = params.value("disability_living_subsidy")
        nursing = params.value("disability_nursing_subsidy")
        binds["nursing_1"], binds["nursing_2"] = nursing["grade_1"], nursing["grade_2"]
    elif group == "children":
        binds["std"] = params.value("dibao_standard")
        _tekun(params, binds)
        binds["orphan_institutional"] = _grown(params, "orphan_standard", "orphan_growth_rate", "institutional", month.year)
        binds["orphan_dispersed"] = _grown(params, "orphan_standard", "orphan_growth_rate", "dispersed", month.year)
        binds["adult_age"] = params.value("orphan_adult_age")
    elif group == "veterans":
        binds["veteran"] = _grown(params, "veteran_allowance", "veteran_growth_rate", None, month.year)
    elif group == "price":
        figure = await price_service.current_figure(uow, month)
        if figure is None:
            raise Problem(409, "cpi_missing", f"No CPI figure for {format_month(month)} has been received")
        if not figure.checked:
            raise Problem(409, "cpi_not_checked", f"The CPI figure for {format_month(month)} is not checked against the release")
        evaluation = await price_service.evaluate(
            uow=uow, month=month, cpi_yoy_pct=figure.cpi_yoy_pct, food_cpi_yoy_pct=figure.food_cpi_yoy_pct)
        if not evaluation.result.triggered:
            raise Problem(409, "price_not_triggered", f"{format_month(month)} does not trigger the price subsidy (R-PS-1)")
        binds["price_amount"] = evaluation.result.amount_per_person
        binds["categories"] = sorted({c for cat in evaluation.result.covers for c in price_service.BENEFIT_CATEGORIES[cat]})
        extra = {"cpi_figure_id": str(figure.id), "price": evaluation.trace.as_dict()}
    trace = {
        "rule_ids": list(rules.GROUP_RULES[group]),
        "month": format_month(month),
        "parameters": params.trace(),
        "figures": {k: (f"{v:.2f}" if isinstance(v, Decimal) else v) for k, v in binds.items()},
        **extra,
    }
    return binds, trace


def _binds_from_trace(run: PaymentRun) -> dict[str, Any]:
    figures = dict((run.trace or {}).get("figures", {}))
    binds: dict[str, Any] = {k: (Decimal(v) if k in NUMERIC_BINDS else v) for k, v in figures.items()}
    binds.update(run_id=str(run.id), month=run.month, prev_month=add_months(run.month, -1),
                 next_month=add_months(run.month, 1))
    return binds


# --- create --------------------------------------------------------------------------------


async def create_run(*, uow: UnitOfWork, principal: Principal, month: date, group: str, bus: Any = None) -> PaymentRun:
    """Create the run of ``group`` for ``month`` (status ``created``; the worker snapshots it).

    One run per month and group: a second, however concurrent, gets 409 ``run_exists`` (with
    ``run_id``). Also 422 ``month_in_future`` (after next month), 409 ``roster_rebuilding`` and the
    errors of :func:`group_figures`. Emits ``subsidy.run.created``.
    """
    today = local_today(uow.clock)
    if month > add_months(today.replace(day=1), 1):
        raise Problem(422, "month_in_future", "A run can be created up to next month", month=format_month(month))
    if group != "housing":
        await ensure_ready(uow=uow, bus=bus)
    _, trace = await group_figures(uow=uow, group=group, month=month)
    run_id = uuid.uuid4()
    inserted = await uow.session.execute(
        insert(PaymentRun).values(
            id=run_id, month=month, benefit_group=group, status="created", created_at=uow.now(),
            created_by=principal.subject, trace=trace, lines_total=0, lines_payable=0, lines_dropped=0,
            lines_carried_in=0, amount_payable=Decimal("0.00"), step_attempts=0,
        ).on_conflict_do_nothing(index_elements=["month", "benefit_group"]).returning(PaymentRun.id)
    )
    if inserted.scalar() is None:
        existing = await uow.session.scalar(
            select(PaymentRun.id).where(PaymentRun.month == month, PaymentRun.benefit_group == group))
        raise Problem(409, "run_exists", f"The {group} run for {format_month(month)} already exists",
                      run_id=str(existing) if existing else None)
    uow.emit("subsidy.run.created", {"run_id": run_id, "month": format_month(month), "benefit_group": group,
                                     "created_by": principal.subject}, subject=str(run_id))
    log.info("subsidy.run.created", run_id=str(run_id), month=format_month(month), group=group)
    return await uow.session.get(PaymentRun, run_id)  # type: ignore[return-value]


# --- snapshot + cross-check (worker) -------------------------------------------------------


async def snapshot(*, uow: UnitOfWork, run: PaymentRun, work_mem_mb: int = 256) -> None:
    """Take the run's snapshot and cross-check it in one statement (see ``sql``); → ``checked``.

    The caller holds the run row locked. A unique violation means a concurrent transaction made
    one of these lines payable first: the caller rolls back and retries later, and the retry
    reports that line as ``already_paid``.
    """
    statement = text(sql.snapshot_statement(run.benefit_group))
    # The hash tables of the roster join and of the duplicate-key count (about 100 MB each for a
    # million lines) stay in memory.
    await uow.session.execute(text(f"SET LOCAL work_mem = '{int(work_mem_mb)}MB'"))
    row = (await uow.session.execute(statement, _binds_from_trace(run))).one()
    # Fresh statistics, so the later statements on these lines get good plans at once.
    await uow.session.execute(text("ANALYZE payment_lines"))
    run.first_line_id, run.last_line_id = row.first_line_id, row.last_line_id
    run.line_months = sorted({run.month, *(row.other_months or [])})
    run.snapshot_xmin = int(row.snapshot_xmin)
    run.status = "checked"
    run.checked_at = uow.now()
    run.lines_total = int(row.total)
    run.lines_payable = int(row.payable)
    run.lines_dropped = int(row.dropped)
    run.lines_carried_in = int(row.carried_in)
    run.amount_payable = Decimal(row.amount_payable)
    run.last_error = None
    uow.emit("subsidy.run.checked", {
        "run_id": run.id, "month": format_month(run.month), "benefit_group": run.benefit_group,
        "lines_payable": run.lines_payable, "lines_dropped": run.lines_dropped,
        "amount_payable": f"{run.amount_payable:.2f}",
    }, subject=str(run.id))
    log.info("subsidy.run.checked", run_id=str(run.id), payable=run.lines_payable, dropped=run.lines_dropped)


async def process_next_step(uow_factory: Callable[[], UnitOfWork], *, work_mem_mb: int = 256) -> bool:
    """Claim one run waiting for its snapshot (``FOR UPDATE SKIP LOCKED``: replicas never take the
    same run) and process it. Returns True when a run was checked; False when there was none or
    the attempt failed (rolled back, counted in ``step_attempts``; runs that failed more often
    are taken last, so one cannot starve the others)."""
    claimed_id: uuid.UUID | None = None
    try:
        async with uow_factory() as uow:
            run = await uow.session.scalar(
                select(PaymentRun).where(PaymentRun.status == "created")
                .order_by(PaymentRun.step_attempts, PaymentRun.created_at, PaymentRun.id)
                .limit(1).with_for_update(skip_locked=True)
            )
            if run is None:
                return False
            claimed_id = run.id
            await snapshot(uow=uow, run=run, work_mem_mb=work_mem_mb)
            await uow.commit()
            return True
    except (IntegrityError, DBAPIError) as exc:
        if claimed_id is None:
            raise
        log.warning("subsidy.run.snapshot_retry", run_id=str(claimed_id), error_type=type(exc).__name__)
        async with uow_factory() as uow:
            await uow.session.execute(
                update(PaymentRun).where(PaymentRun.id == claimed_id, PaymentRun.status == "created")
                # The database's message goes to the run (operators read it there), not to the log.
                .values(step_attempts=PaymentRun.step_attempts + 1,
                        last_error=f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}"[:2000])
            )
            await uow.commit()
        return False


# --- approval and bank file ----------------------------------------------------------------


def _run_lines(run: PaymentRun):
    """SQLAlchemy criteria for a run's lines: its id range and its run id."""
    return (PaymentLine.id.between(run.first_line_id or 0, run.last_line_id or 0), PaymentLine.run_id == run.id)


async def _locked_run(uow: UnitOfWork, run_id: uuid.UUID) -> PaymentRun:
    run = await uow.session.get(PaymentRun, run_id, with_for_update=True)
    if run is None:
        raise not_found("run")
    return run


def _state_problem(exc: rules.RunStateError) -> Problem:
    return Problem(409, exc.code, str(exc))


async def approve_run(*, uow: UnitOfWork, principal: Principal, run_id: uuid.UUID) -> PaymentRun:
    """District approval of a checked run (审批); repeating it is harmless. 404 ``not_found``,
    409 ``run_not_checked``. Emits ``subsidy.run.approved``."""
    run = await _locked_run(uow, run_id)
    try:
        if not rules.check_transition(run.status, "approved"):
            return run
    except rules.RunStateError as exc:
        raise _state_problem(exc) from None
    run.status, run.approved_at, run.approved_by = "approved", uow.now(), principal.subject
    uow.emit("subsidy.run.approved", {
        "run_id": run.id, "month": format_month(run.month), "benefit_group": run.benefit_group,
        "approved_by": principal.subject, "lines_payable": run.lines_payable,
        "amount_payable": f"{run.amount_payable:.2f}",
    }, subject=str(run.id))
    log.info("subsidy.run.approved", run_id=str(run.id))
    return run


async def issue_bank_file(*, uow: UnitOfWork, principal: Principal, run_id: uuid.UUID) -> PaymentRun:
    """Issue the bank file of an approved run (社会化发放, R-DS-3): first re-run the comparison for
    deaths and ended benefits reported since the snapshot (R-DS-2, those lines are dropped), then
    freeze the file's count and total. Repeating it is harmless. 404, 409 ``run_not_approved``.
    Emits ``subsidy.run.issued``."""
    run = await _locked_run(uow, run_id)
    try:
        if not rules.check_transition(run.status, "issued"):
            return run
    except rules.RunStateError as exc:
        raise _state_problem(exc) from None
    binds = {"run_id": str(run.id), "months": run.line_months or [run.month],
             "benefits": list(rules.GROUPS[run.benefit_group]), "since_xid": run.snapshot_xmin or 0}
    dead = (await uow.session.execute(text(sql.RECHECK_DEATHS), binds)).all()
    ended = (await uow.session.execute(text(sql.RECHECK_ENDED), binds)).all()
    dropped_now = len(dead) + len(ended)
    run.status, run.issued_at, run.issued_by = "issued", uow.now(), principal.subject
    run.lines_payable -= dropped_now
    run.lines_dropped += dropped_now
    run.amount_payable -= sum((line.amount for line in (*dead, *ended)), Decimal("0.00"))
    run.bank_count, run.bank_total = run.lines_payable, run.amount_payable
    if run.bank_count == 0:  # nothing for the bank to answer
        run.status, run.reconciled_at = "reconciled", run.issued_at
    uow.emit("subsidy.run.issued", {
        "run_id": run.id, "month": format_month(run.month), "benefit_group": run.benefit_group,
        "lines": run.bank_count, "total": f"{run.bank_total:.2f}", "dropped_at_issue": dropped_now,
    }, subject=str(run.id))
    log.info("subsidy.run.issued", run_id=str(run.id), lines=run.bank_count, dropped_at_issue=dropped_now)
    return run


async def stream_bank_file(engine: AsyncEngine, run: PaymentRun, *, chunk_queue: int = 8) -> AsyncIterator[bytes]:
    """The bank file (CSV: ``account,name,amount,reference``, then the control line), streamed
    from PostgreSQL with ``COPY … TO STDOUT``: constant memory whatever the run's size. The name
    is masked and, if it starts with ``=`` ``+`` ``-`` ``@`` (tab, CR), ``'``-prefixed against
    spreadsheet formula injection (``rules.bank_name``); account, amount, reference and the
    ``TOTAL`` control line are written exactly as the bank reads them."""
    yield b"account,name,amount,reference\n"
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=chunk_queue)

        async def sink(chunk: bytes) -> None:
            await queue.put(bytes(chunk))

        async def produce() -> None:
            try:
                await driver.copy_from_query(sql.BANK_FILE_LINES, run.id, run.first_line_id or 0, run.last_line_id or 0,
                                             output=sink, format="csv")
            finally:
                await queue.put(None)

        task = asyncio.create_task(produce())
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            await task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    yield (rules.control_line(run.bank_count or 0, run.bank_total or Decimal("0.00"), rules.run_code(run.month, run.benefit_group)) + "\n").encode()


# --- bank returns --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnRow:
    row: int
    reference: str
    status: str
    reason: str | None


async def ingest_bank_return(*, uow: UnitOfWork, principal: Principal, rows: list[ReturnRow], body_hash: str) -> dict[str, Any]:
    """Reconcile a bank return (R-DS-3): each reference paid, or failed with a reason.

    All or nothing: any unknown reference (not ours, not in an issued run, or dropped), a
    reference twice with different outcomes, or an outcome contradicting an earlier return makes
    the whole file 422 ``bank_return_rejected`` with per-row ``errors`` and the
    ``unknown_references``; nothing is changed. A line already at the reported outcome is
    ``unchanged`` (a return sent twice is harmless). Emits ``subsidy.payment.paid`` /
    ``subsidy.payment.failed`` per line changed, and ``subsidy.run.reconciled`` for each run with
    no line left unanswered. Failed lines are carried into the group's next run.
    """
    errors: list[dict[str, Any]] = []
    unknown: list[str] = []
    wanted: dict[int, ReturnRow] = {}
    for r in rows:
        line_id = rules.parse_reference(r.reference)
        if line_id is None:
            unknown.append(r.reference)
            errors.append({"field": f"rows[{r.row}].reference", "code": "unknown_reference", "message": f"{r.reference!r} is not a reference of ours"})
            continue
        seen = wanted.get(line_id)
        if seen is not None and (seen.status, seen.reason) != (r.status, r.reason):
            errors.append({"field": f"rows[{r.row}].reference", "code": "conflicting_rows", "message": f"{r.reference} appears with different outcomes"})
            continue
        wanted[line_id] = r
    found = {
        row.id: row for row in (await uow.session.execute(
            select(PaymentLine.id, PaymentLine.status, PaymentLine.run_id, PaymentRun.status.label("run_status"))
            .join(PaymentRun, PaymentRun.id == PaymentLine.run_id)
            .where(PaymentLine.id.in_(list(wanted)))
            .with_for_update(of=PaymentLine)
        )).all()
    } if wanted else {}
    to_change: list[tuple[int, ReturnRow]] = []
    unchanged = 0
    for line_id, r in wanted.items():
        line = found.get(line_id)
        if line is None or line.run_status not in ("issued", "reconciled") or line.status == "dropped":
            unknown.append(r.reference)
            errors.append({"field": f"rows[{r.row}].reference", "code": "unknown_reference", "message": f"{r.reference} is not a line of an issued bank file"})
        elif line.status == "payable":
            to_change.append((line_id, r))
        elif line.status == r.status:
            unchanged += 1
        else:
            errors.append({"field": f"rows[{r.row}].status", "code": "status_conflict", "message": f"{r.reference} was already returned as {line.status}"})
    if errors:
        raise Problem(422, "bank_return_rejected", f"{len(errors)} row(s) refused; nothing was changed",
                      errors=errors, unknown_references=unknown)
    now = uow.now()
    changed: list[Any] = []
    if to_change:
        ids = [i for i, _ in to_change]
        statuses = [r.status for _, r in to_change]
        reasons = [r.reason if r.status == "failed" else None for _, r in to_change]
        changed = (await uow.session.execute(text("""
            UPDATE payment_lines l SET status = v.status, failure_reason = v.reason, returned_at = :now
              FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:reasons AS text[])) AS v(id, status, reason)
             WHERE l.id = v.id AND l.status = 'payable'
            RETURNING l.id, l.run_id, l.person_id, l.household_id, l.benefit, l.month, l.amount, l.status, l.failure_reason
        """), {"ids": ids, "statuses": statuses, "reasons": reasons, "now": now})).all()
    for line in changed:
        uow.emit(f"subsidy.payment.{line.status}", {
            "run_id": line.run_id, "line_id": line.id, "person_id": line.person_id, "household_id": line.household_id,
            "benefit": line.benefit, "month": format_month(line.month), "amount": f"{line.amount:.2f}",
            "reference": rules.line_reference(line.id), "reason": line.failure_reason,
        }, subject=str(line.id))
    reconciled = []
    for run_id in sorted({line.run_id for line in changed}, key=str):
        run = await _locked_run(uow, run_id)
        open_lines = await uow.session.scalar(
            select(func.count()).select_from(PaymentLine).where(*_run_lines(run), PaymentLine.status == "payable"))
        if open_lines == 0:
            if run.status == "issued":
                run.status, run.reconciled_at = "reconciled", now
                reconciled.append(str(run_id))
                counts = dict((await uow.session.execute(
                    select(PaymentLine.status, func.count()).where(*_run_lines(run)).group_by(PaymentLine.status)
                )).all())
                uow.emit("subsidy.run.reconciled", {
                    "run_id": run_id, "month": format_month(run.month), "benefit_group": run.benefit_group,
                    "paid": int(counts.get("paid", 0)), "failed": int(counts.get("failed", 0)),
                }, subject=str(run_id))
    paid = sum(1 for line in changed if line.status == "paid")
    record = BankReturn(received_at=now, received_by=principal.subject, rows=len(rows), paid=paid,
                        failed=len(changed) - paid, unchanged=unchanged, body_hash=body_hash)
    uow.session.add(record)
    await uow.session.flush()
    log.info("subsidy.bank_return.accepted", rows=len(rows), paid=paid, failed=len(changed) - paid, unchanged=unchanged)
    return {"id": record.id, "rows": len(rows), "paid": paid, "failed": len(changed) - paid, "unchanged": unchanged,
            "reconciled_runs": reconciled}


def hash_body(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --- reads ---------------------------------------------------------------------------------


async def get_run(uow: UnitOfWork, run_id: uuid.UUID) -> PaymentRun:
    run = await uow.session.get(PaymentRun, run_id)
    if run is None:
        raise not_found("run")
    return run


async def drop_summary(uow: UnitOfWork, run_id: uuid.UUID) -> list[dict[str, Any]]:
    """Dropped lines of a run by reason and stage (the cross-check report's summary)."""
    rows = (await uow.session.execute(
        select(PaymentLine.drop_reason, PaymentLine.dropped_stage, func.count(), func.coalesce(func.sum(PaymentLine.amount), 0))
        .where(PaymentLine.run_id == run_id, PaymentLine.status == "dropped")
        .group_by(PaymentLine.drop_reason, PaymentLine.dropped_stage)
        .order_by(PaymentLine.drop_reason, PaymentLine.dropped_stage)
    )).all()
    return [
        {"reason": reason, "rule": rules.DROP_REASONS.get(reason, ("", ""))[0],
         "description": rules.DROP_REASONS.get(reason, ("", reason))[1], "stage": stage, "lines": int(n), "amount": Decimal(total)}
        for reason, stage, n, total in rows
    ]


async def status_counts(uow: UnitOfWork, run: PaymentRun) -> dict[str, int]:
    rows = (await uow.session.execute(
        select(PaymentLine.status, func.count()).where(*_run_lines(run)).group_by(PaymentLine.status)
    )).all()
    return {status: int(n) for status, n in rows}


async def list_lines(
    uow: UnitOfWork, run: PaymentRun, *, limit: int, after: int | None, status: str | None,
    reason: str | None, town: str | None, person_id: str | None,
) -> list[PaymentLine]:
    query = select(PaymentLine).where(*_run_lines(run))
    if status:
        query = query.where(PaymentLine.status == status)
    if reason:
        query = query.where(PaymentLine.drop_reason == reason)
    if town:
        query = query.where(PaymentLine.town == town)
    if person_id:
        query = query.where(PaymentLine.person_id == person_id)
    if after is not None:
        query = query.where(PaymentLine.id > after)
    return list((await uow.session.scalars(query.order_by(PaymentLine.id).limit(limit + 1))).all())


async def list_runs(uow: UnitOfWork, *, limit: int, after: tuple[str, str] | None, month: date | None, group: str | None,
                    year: int | None = None) -> list[PaymentRun]:
    """At most ``limit + 1`` runs, newest month first, keyset ``after`` = (month, id); ``year``: a
    half-open range on ``month`` (the leading column of the (month, benefit_group) unique index)."""
    query = select(PaymentRun)
    if month:
        query = query.where(PaymentRun.month == month)
    if year is not None:
        query = query.where(PaymentRun.month >= date(year, 1, 1), PaymentRun.month < date(year + 1, 1, 1))
    if group:
        query = query.where(PaymentRun.benefit_group == group)
    if after is not None:
        query = query.where(
            (PaymentRun.month < date.fromisoformat(after[0]))
            | and_(PaymentRun.month == date.fromisoformat(after[0]), PaymentRun.id > uuid.UUID(after[1]))
        )
    return list((await uow.session.scalars(query.order_by(PaymentRun.month.desc(), PaymentRun.id).limit(limit + 1))).all())
