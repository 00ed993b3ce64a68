"""Reading parameter versions in force on a date, and adding versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select

from services.care.parameters.catalogue import PARAMETERS, InvalidParameterValue, check_value
from services.care.parameters.models import ParameterVersion
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem


@dataclass
class ParameterSnapshot:
    """The versions in force on ``on``; :meth:`get` records each version used for the trace."""

    on: date
    versions: dict[str, ParameterVersion]
    used: dict[str, ParameterVersion] = field(default_factory=dict)

    def get(self, key: str) -> Decimal:
        """Value of ``key`` on :attr:`on`; 500-free: a key without a version in force is a 409
        ``parameter_missing`` (an administrator closed it without a successor)."""
        version = self.versions.get(key)
        if version is None:
            raise Problem(409, "parameter_missing", f"No version of parameter {key} is in force on {self.on.isoformat()}")
        self.used[key] = version
        return version.value

    def get_int(self, key: str) -> int:
        return int(self.get(key))

    def version_id(self, key: str) -> int:
        self.get(key)
        return self.versions[key].id

    def trace(self) -> list[dict[str, Any]]:
        """The versions used so far, for a decision trace."""
        return [version_trace(v) for _, v in sorted(self.used.items())]


def version_trace(v: ParameterVersion) -> dict[str, Any]:
    return {
        "key": v.key,
        "value": format(v.value.normalize(), "f"),
        "version_id": v.id,
        "valid_from": v.valid_from.isoformat(),
        "valid_to": v.valid_to.isoformat() if v.valid_to else None,
    }


async def parameters_on(uow: UnitOfWork, on: date, keys: list[str] | None = None) -> ParameterSnapshot:
    """The parameter versions in force on ``on`` (all keys, or ``keys``)."""
    query = select(ParameterVersion).where(
        ParameterVersion.valid_from <= on,
        or_(ParameterVersion.valid_to.is_(None), ParameterVersion.valid_to >= on),
    )
    if keys is not None:
        query = query.where(ParameterVersion.key.in_(keys))
    rows = (await uow.session.scalars(query)).all()
    return ParameterSnapshot(on=on, versions={r.key: r for r in rows})


async def history(uow: UnitOfWork, key: str) -> list[ParameterVersion]:
    """Every version of ``key``, oldest first; 404 for an unknown key."""
    if key not in PARAMETERS:
        raise Problem(404, "not_found", "parameter not found")
    rows = await uow.session.scalars(
        select(ParameterVersion).where(ParameterVersion.key == key).order_by(ParameterVersion.valid_from)
    )
    return list(rows.all())


async def add_version(
    *, uow: UnitOfWork, principal: Principal, key: str, value: Decimal, valid_from: date, note: str | None
) -> ParameterVersion:
    """Add a version of ``key`` from ``valid_from``; the version in force then ends the day before.

    Errors: 404 unknown key; 422 ``invalid_value`` (see catalogue.check_value); 409
    ``version_conflict`` when a version already starts on or after ``valid_from`` (history is
    appended, never rewritten).
    """
    definition = PARAMETERS.get(key)
    if definition is None:
        raise Problem(404, "not_found", "parameter not found")
    try:
        value = check_value(definition, value)
    except InvalidParameterValue as exc:
        raise Problem(422, "invalid_value", str(exc), errors=[{"field": "value", "code": "invalid_value", "message": str(exc)}]) from None
    versions = (
        await uow.session.scalars(
            select(ParameterVersion).where(ParameterVersion.key == key).order_by(ParameterVersion.valid_from).with_for_update()
        )
    ).all()
    if any(v.valid_from >= valid_from for v in versions):
        raise Problem(409, "version_conflict", "A version already starts on or after this date")
    for v in versions:
        if v.valid_to is None or v.valid_to >= valid_from:
            v.valid_to = valid_from - timedelta(days=1)
    version = ParameterVersion(key=key, value=value, valid_from=valid_from, note=note, created_by=principal.subject)
    uow.session.add(version)
    await uow.session.flush()
    return version
