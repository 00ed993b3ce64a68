"""Reading parameters in force on a date, and adding versions (district administrator)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.subsidy.parameters.catalogue import BY_KEY, ParameterSpec, ParameterValueError, spec_of
from services.subsidy.parameters.models import ParameterVersion
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem

log = structlog.get_logger("subsidy.parameters")


@dataclass(frozen=True)
class ParamValue:
    """A parameter version in force: its id, validity and parsed value."""

    key: str
    version_id: int
    valid_from: date
    valid_to: date | None
    raw: Any
    value: Any

    def trace(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version_id": self.version_id,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "value": self.raw,
        }


class Params:
    """Every parameter version in force on ``day``; records which ones a computation used.

    ``get(key)`` returns the :class:`ParamValue` and remembers it for :meth:`trace`; a key with no
    version in force raises 422 ``parameter_missing`` (e.g. a month before the seeded defaults).
    """

    def __init__(self, day: date, rows: list[ParameterVersion]) -> None:
        self.day = day
        self._by_key = {
            row.key: ParamValue(row.key, row.id, row.valid_from, row.valid_to, row.value, spec_of(row.key).parse(row.value))
            for row in rows
            if row.key in BY_KEY
        }
        self.used: dict[str, ParamValue] = {}

    def get(self, key: str) -> ParamValue:
        found = self._by_key.get(key)
        if found is None:
            raise Problem(
                422, "parameter_missing", f"No version of parameter {key} is in force on {self.day.isoformat()}",
                parameter=key, on=self.day.isoformat(),
            )
        self.used[key] = found
        return found

    def value(self, key: str) -> Any:
        return self.get(key).value

    def trace(self) -> list[dict[str, Any]]:
        return [v.trace() for v in sorted(self.used.values(), key=lambda v: v.key)]


def _in_force(day: date):
    return and_(ParameterVersion.valid_from <= day, or_(ParameterVersion.valid_to.is_(None), ParameterVersion.valid_to >= day))


async def params_on(session: AsyncSession, day: date) -> Params:
    """The parameters in force on ``day`` (one query)."""
    rows = (await session.scalars(select(ParameterVersion).where(_in_force(day)))).all()
    return Params(day, list(rows))


async def list_versions(session: AsyncSession, key: str | None = None) -> list[ParameterVersion]:
    query = select(ParameterVersion).order_by(ParameterVersion.key, ParameterVersion.valid_from)
    if key is not None:
        query = query.where(ParameterVersion.key == key)
    return list((await session.scalars(query)).all())


async def add_version(
    *,
    uow: UnitOfWork,
    principal: Principal,
    key: str,
    valid_from: date,
    valid_to: date | None,
    value: Any,
    note: str | None,
) -> ParameterVersion:
    """Add a version of parameter ``key`` in force from ``valid_from`` (to ``valid_to``, inclusive).

    The version in force on ``valid_from`` is ended the day before; an open-ended new version
    stops the day before the next later version, if any. Existing values are never changed.
    Errors: 404 ``not_found`` (no such parameter), 422 ``invalid_parameter_value``, 422
    ``invalid_range`` (valid_to before valid_from), 409 ``parameter_version_exists`` (a version
    already starts that day), 409 ``parameter_overlap`` (the range would cover or split
    existing versions: add them explicitly instead).
    """
    spec: ParameterSpec | None = BY_KEY.get(key)
    if spec is None:
        raise Problem(404, "not_found", f"parameter {key} not found")
    try:
        normalised = spec.normalise(value)
    except ParameterValueError as exc:
        raise Problem(422, exc.code, str(exc), errors=[{"field": "value", "code": exc.code, "message": str(exc)}]) from None
    if valid_to is not None and valid_to < valid_from:
        raise Problem(422, "invalid_range", "valid_to is before valid_from")
    session = uow.session
    # Serialise version changes of one key (two administrators at once).
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"subsidy.parameter.{key}"})
    versions = list((await session.scalars(
        select(ParameterVersion).where(ParameterVersion.key == key).order_by(ParameterVersion.valid_from)
    )).all())
    if any(v.valid_from == valid_from for v in versions):
        raise Problem(409, "parameter_version_exists", f"a version of {key} already starts on {valid_from.isoformat()}")
    later = [v for v in versions if v.valid_from > valid_from]
    if later:
        limit = later[0].valid_from - timedelta(days=1)
        if valid_to is None:
            valid_to = limit
        elif valid_to > limit:
            raise Problem(409, "parameter_overlap", f"the range would cover the version from {later[0].valid_from.isoformat()}")
    covering = next(
        (v for v in reversed(versions) if v.valid_from < valid_from and (v.valid_to is None or v.valid_to >= valid_from)),
        None,
    )
    if covering is not None:
        if covering.valid_to is not None and (valid_to is None or covering.valid_to > valid_to):
            raise Problem(409, "parameter_overlap", "the range would split an existing version; add both parts explicitly")
        covering.valid_to = valid_from - timedelta(days=1)
    version = ParameterVersion(
        key=key, valid_from=valid_from, valid_to=valid_to, value=normalised, note=note, created_by=principal.subject
    )
    session.add(version)
    await session.flush()
    uow.emit(
        "subsidy.parameter.versioned",
        {"key": key, "version_id": version.id, "valid_from": valid_from, "valid_to": valid_to, "value": normalised},
        subject=key,
    )
    log.info("subsidy.parameter.versioned", key=key, version_id=version.id)
    return version


async def count_versions(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ParameterVersion)) or 0)
