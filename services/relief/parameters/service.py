"""Use cases of the versioned parameters: what is in force on a date, and adding a version."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import structlog
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.relief.parameters.models import Parameter
from services.relief.parameters.rules import (
    SPECS,
    ParameterValueError,
    ParameterVersion,
    PolicySet,
    check_consistency,
    check_value,
)
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem

log = structlog.get_logger("relief.parameters")


def _in_force(on: date):  # noqa: ANN202 - a SQLAlchemy clause
    return (Parameter.valid_from <= on) & or_(Parameter.valid_to.is_(None), Parameter.valid_to >= on)


async def policy_on(session: AsyncSession, on: date) -> PolicySet:
    """Every relief parameter in force on ``on`` (a date in Asia/Shanghai).

    Raises Problem 422 ``no_parameters_in_force`` when some parameter has no version covering that
    date (e.g. a date before the 2020 measures took effect).
    """
    rows = (await session.scalars(select(Parameter).where(_in_force(on)))).all()
    versions = tuple(
        ParameterVersion(id=r.id, name=r.name, value=r.value, valid_from=r.valid_from, valid_to=r.valid_to)
        for r in sorted(rows, key=lambda r: r.name)
    )
    missing = sorted(set(SPECS) - {v.name for v in versions})
    if missing:
        raise Problem(
            422,
            "no_parameters_in_force",
            f"No relief policy parameters are in force on {on.isoformat()}: {', '.join(missing)}",
            missing=missing,
        )
    return PolicySet(on=on, versions=versions)


async def list_parameters(session: AsyncSession, *, on: date | None, name: str | None) -> list[Parameter]:
    """Versions of the parameters, by name then ``valid_from``; only those in force on ``on`` when
    given, only parameter ``name`` when given."""
    query = select(Parameter).order_by(Parameter.name, Parameter.valid_from)
    if on is not None:
        query = query.where(_in_force(on))
    if name is not None:
        query = query.where(Parameter.name == name)
    return list((await session.scalars(query)).all())


async def add_version(*, uow: UnitOfWork, principal: Principal, name: str, value: Decimal, valid_from: date) -> Parameter:
    """Put a new version of parameter ``name`` in force from ``valid_from`` (district_admin).

    The version in force on ``valid_from`` ends the day before. Raises Problem 422
    ``unknown_parameter`` / ``invalid_parameter_value`` (incl. a set that would no longer be
    consistent: town limit above the cap, warning not before the deadline) and 409
    ``version_conflict`` when a version already starts on or after ``valid_from``.
    """
    try:
        value = check_value(name, value)
    except ParameterValueError as exc:
        raise Problem(422, exc.code, exc.message) from None
    session = uow.session
    # One writer per parameter set at a time: versions must never overlap.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('relief.parameters'))"))
    later = await session.scalar(
        select(Parameter.id).where(Parameter.name == name, Parameter.valid_from >= valid_from).limit(1)
    )
    if later is not None:
        raise Problem(409, "version_conflict", f"A version of {name} already starts on or after {valid_from.isoformat()}")
    current = await session.scalar(select(Parameter).where(Parameter.name == name, _in_force(valid_from)))
    others = {p.name: p.value for p in (await session.scalars(select(Parameter).where(_in_force(valid_from)))).all()}
    others[name] = value
    try:
        check_consistency(others)
    except ParameterValueError as exc:
        raise Problem(422, exc.code, exc.message) from None
    if current is not None:
        current.valid_to = valid_from - timedelta(days=1)
    spec = SPECS[name]
    row = Parameter(
        name=name, value=value, unit=spec.unit, rule=spec.rule, valid_from=valid_from, valid_to=None,
        created_by=principal.subject,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    log.info("relief.parameter.versioned", parameter=name, valid_from=valid_from.isoformat(), by=principal.subject)
    return row
