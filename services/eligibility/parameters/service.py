"""Use cases of the versioned parameters: read the versions in force, add and withdraw versions."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility.figures import local_date
from services.eligibility.parameters.defaults import BY_NAME
from services.eligibility.parameters.models import ParameterVersionRow
from services.eligibility.parameters.rules import Parameters, ParameterVersion
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem, not_found

log = structlog.get_logger("eligibility.parameters")

# Parameters whose change moves amounts already being paid (recalculated at once, R-DB-1/R-TK-2).
RECALCULATING = ("dibao_standard", "tekun_basic_factor")


async def parameters_on(session: AsyncSession, on: date) -> Parameters:
    """Every parameter version in force on ``on`` (reads record their version for the trace).

    Read as column rows, not ORM objects (no identity map for ~30 rows). Not cached across
    transactions: another replica may add a version in force today or withdraw one, and only a
    read of the table would tell — a freshness check costs the same round trip as this query."""
    rows = (
        await session.execute(
            select(
                ParameterVersionRow.name, ParameterVersionRow.value, ParameterVersionRow.valid_from, ParameterVersionRow.valid_to,
                ParameterVersionRow.id, ParameterVersionRow.unit,
            ).where(
                ParameterVersionRow.valid_from <= on,
                or_(ParameterVersionRow.valid_to.is_(None), ParameterVersionRow.valid_to >= on),
            )
        )
    ).all()
    return Parameters((ParameterVersion(r.name, r.value, r.valid_from, r.valid_to, r.id, r.unit) for r in rows), on)


async def list_versions(session: AsyncSession, *, name: str | None, on: date | None) -> list[ParameterVersionRow]:
    """Versions ordered by name and start; filtered to one ``name`` and/or those in force ``on``."""
    query = select(ParameterVersionRow).order_by(ParameterVersionRow.name, ParameterVersionRow.valid_from)
    if name is not None:
        query = query.where(ParameterVersionRow.name == name)
    if on is not None:
        query = query.where(
            ParameterVersionRow.valid_from <= on,
            or_(ParameterVersionRow.valid_to.is_(None), ParameterVersionRow.valid_to >= on),
        )
    return list((await session.scalars(query)).all())


def parse_value(name: str, raw: str) -> Decimal:
    """The value of a new version, checked against the parameter's unit.

    Raises Problem 422 ``unknown_parameter`` or ``invalid_parameter_value`` (yuan: > 0, whole
    fen; months/days/years/working_days: a whole number ≥ 0 — ≥ 1 for working days; ratio: > 0).
    """
    definition = BY_NAME.get(name)
    if definition is None:
        raise Problem(422, "unknown_parameter", f"no parameter named {name!r}")
    text = raw.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Problem(422, "invalid_parameter_value", "the value is not a decimal number") from None
    if not value.is_finite() or "e" in text.lower() or abs(value) >= Decimal("1e9"):
        raise Problem(422, "invalid_parameter_value", "the value is not a plain decimal number below 1e9")
    unit = definition.unit
    if unit == "yuan":
        if value <= 0 or value != value.quantize(Decimal("0.01")):
            raise Problem(422, "invalid_parameter_value", "a yuan amount is positive and in whole fen")
    elif unit in ("months", "days", "years", "working_days"):
        if value != value.to_integral_value() or value < (1 if unit == "working_days" else 0):
            raise Problem(422, "invalid_parameter_value", f"a count of {unit} is a whole number")
    elif value <= 0 or value > 100:
        raise Problem(422, "invalid_parameter_value", "a ratio is positive")
    return value


async def add_version(
    *, uow: UnitOfWork, principal: Principal, name: str, raw_value: str, valid_from: date, note: str | None
) -> tuple[ParameterVersionRow, object | None]:
    """Add a version of ``name`` from ``valid_from``; the open version ends the day before.

    A new dibao standard (or tekun factor) recalculates every live benefit as of ``valid_from``
    and emits ``eligibility.benefit.changed`` / ``.ended`` (R-DB-1, R-DB-4, R-DB-6). Returns the
    row and the recalculation summary (None for other parameters).
    Raises Problem 422 (see :func:`parse_value`), 409 ``parameter_version_conflict`` when
    ``valid_from`` is not after the latest version's start.
    """
    value = parse_value(name, raw_value)
    session = uow.session
    latest = await session.scalar(
        select(ParameterVersionRow)
        .where(ParameterVersionRow.name == name)
        .order_by(ParameterVersionRow.valid_from.desc())
        .limit(1)
        .with_for_update()
    )
    if latest is not None:
        if valid_from <= latest.valid_from:
            raise Problem(
                409,
                "parameter_version_conflict",
                f"a new version must start after the latest one ({latest.valid_from.isoformat()})",
                latest_valid_from=latest.valid_from.isoformat(),
            )
        if latest.valid_to is None or latest.valid_to >= valid_from:
            latest.valid_to = valid_from - timedelta(days=1)
    definition = BY_NAME[name]
    row = ParameterVersionRow(
        name=name,
        value=value,
        unit=definition.unit,
        rule=definition.rule,
        valid_from=valid_from,
        valid_to=None,
        note=note,
        created_by=principal.subject,
        created_at=uow.now(),
    )
    session.add(row)
    await session.flush()
    summary = None
    if name in RECALCULATING:
        from services.eligibility.decisions.recalc import apply_standard_change

        summary = await apply_standard_change(uow=uow, as_of=valid_from, actor=principal.subject, reason=f"{name}@{valid_from.isoformat()}")
    log.info("eligibility.parameter.version_added", parameter=name, valid_from=valid_from.isoformat())
    return row, summary


async def withdraw_version(*, uow: UnitOfWork, principal: Principal, version_id: int):
    """Withdraw a scheduled version (not yet in force: ``valid_from`` after today), the latest of its
    parameter; the previous version is open-ended again. A withdrawn standard recalculates the
    live benefits back as of its date. Raises 404, 409 ``parameter_in_force`` or
    ``parameter_not_latest``."""
    session = uow.session
    row = await session.get(ParameterVersionRow, version_id, with_for_update=True)
    if row is None:
        raise not_found("parameter version")
    today = local_date(uow.now())
    if row.valid_from <= today:
        raise Problem(409, "parameter_in_force", "a version already in force cannot be withdrawn; add a new version instead")
    later = await session.scalar(
        select(ParameterVersionRow.id).where(
            and_(ParameterVersionRow.name == row.name, ParameterVersionRow.valid_from > row.valid_from)
        )
    )
    if later is not None:
        raise Problem(409, "parameter_not_latest", "withdraw the later versions first")
    previous = await session.scalar(
        select(ParameterVersionRow)
        .where(ParameterVersionRow.name == row.name, ParameterVersionRow.valid_from < row.valid_from)
        .order_by(ParameterVersionRow.valid_from.desc())
        .limit(1)
    )
    if previous is not None and previous.valid_to == row.valid_from - timedelta(days=1):
        previous.valid_to = None
    await session.delete(row)
    await session.flush()
    summary = None
    if row.name in RECALCULATING:
        from services.eligibility.decisions.recalc import apply_standard_change

        summary = await apply_standard_change(
            uow=uow, as_of=row.valid_from, actor=principal.subject, reason=f"withdrawn {row.name}@{row.valid_from.isoformat()}"
        )
    log.info("eligibility.parameter.version_withdrawn", parameter=row.name, valid_from=row.valid_from.isoformat())
    return row, previous, summary
