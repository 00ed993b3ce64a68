"""Versioned policy parameters: lookup of the version in force on a date, and new versions.

A computation for a date uses the version in force that date and records its id (the campaign
records the ``village_quota`` version, each pledge the ``pledge_days`` version).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.wishes.parameters.models import ParameterVersion
from services.wishes.schemas import ParameterUsed
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem

log = structlog.get_logger("wishes.parameters")


@dataclass(frozen=True)
class ParameterSpec:
    """What a parameter is: its rule, unit and the integer range it may take."""

    rule: str
    unit: str
    minimum: int
    maximum: int
    default: int

    def parse(self, raw: str) -> int:
        """The value as an int; 422 ``invalid_parameter_value`` outside ``[minimum, maximum]``."""
        try:
            value = int(raw.strip())
        except ValueError:
            raise Problem(422, "invalid_parameter_value", "The value must be a whole number") from None
        if not self.minimum <= value <= self.maximum:
            raise Problem(
                422, "invalid_parameter_value", f"The value must be between {self.minimum} and {self.maximum}"
            )
        return value


#: The parameters of POLICY.md measure 14 with their defaults (seeded by the first migration).
PARAMETERS: dict[str, ParameterSpec] = {
    "village_quota": ParameterSpec(rule="R-MW-1", unit="wishes per village per campaign", minimum=1, maximum=100, default=5),
    "pledge_days": ParameterSpec(rule="R-MW-4", unit="days", minimum=1, maximum=365, default=30),
}


@dataclass(frozen=True)
class InForce:
    """A parameter's value on a date and the version it came from (a snapshot, usable after
    the session is gone)."""

    value: int
    version_id: int
    version: ParameterUsed

    def used(self) -> ParameterUsed:
        return self.version


def spec_of(name: str) -> ParameterSpec:
    try:
        return PARAMETERS[name]
    except KeyError:
        raise Problem(404, "unknown_parameter", f"No parameter named {name!r}") from None


async def in_force(session: AsyncSession, name: str, on: date) -> InForce:
    """The version of ``name`` in force on ``on``; 409 ``parameter_not_in_force`` if none is."""
    spec = spec_of(name)
    version = await session.scalar(
        select(ParameterVersion)
        .where(
            ParameterVersion.name == name,
            ParameterVersion.valid_from <= on,
            or_(ParameterVersion.valid_to.is_(None), ParameterVersion.valid_to >= on),
        )
        .order_by(ParameterVersion.valid_from.desc())
        .limit(1)
    )
    if version is None:
        raise Problem(409, "parameter_not_in_force", f"No version of {name} is in force on {on.isoformat()}")
    used = ParameterUsed(name=version.name, value=version.value, version_id=version.id,
                         valid_from=version.valid_from, valid_to=version.valid_to)
    return InForce(spec.parse(version.value), version.id, used)


class InForceCache:
    """The versions in force, remembered for ``ttl`` seconds per (parameter, date).

    For hot paths (every pledge needs ``pledge_days``): a new version reaches them within ``ttl``
    seconds. Versions normally start on a later date, so this only delays a same-day change.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, date], tuple[float, InForce]] = {}

    async def get(self, session: AsyncSession, name: str, on: date) -> InForce:
        now = time.monotonic()
        entry = self._entries.get((name, on))
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        value = await in_force(session, name, on)
        if len(self._entries) > 1000:
            self._entries.clear()
        self._entries[(name, on)] = (now, value)
        return value


async def list_versions(session: AsyncSession, name: str | None = None) -> list[ParameterVersion]:
    """Every version (of ``name`` if given), by name and date."""
    query = select(ParameterVersion).order_by(ParameterVersion.name, ParameterVersion.valid_from)
    if name is not None:
        spec_of(name)
        query = query.where(ParameterVersion.name == name)
    return list((await session.scalars(query)).all())


async def add_version(*, uow: UnitOfWork, principal: Principal, name: str, value: str, valid_from: date) -> ParameterVersion:
    """Add a version of ``name`` from ``valid_from``; the version it follows ends the day before.

    Only after the latest version's start (no rewriting of the past before it):
    409 ``parameter_overlap`` otherwise; 422 ``invalid_parameter_value``; 404 ``unknown_parameter``.
    """
    spec = spec_of(name)
    parsed = spec.parse(value)
    session = uow.session
    latest = await session.scalar(
        select(ParameterVersion)
        .where(ParameterVersion.name == name)
        .order_by(ParameterVersion.valid_from.desc())
        .limit(1)
        .with_for_update()
    )
    if latest is not None:
        if valid_from <= latest.valid_from:
            raise Problem(
                409, "parameter_overlap",
                f"A new version must start after {latest.valid_from.isoformat()}, the start of the latest one",
            )
        if latest.valid_to is None or latest.valid_to >= valid_from:
            latest.valid_to = valid_from - timedelta(days=1)
    version = ParameterVersion(
        name=name, value=str(parsed), rule=spec.rule, valid_from=valid_from, valid_to=None, created_by=principal.subject
    )
    session.add(version)
    await session.flush()
    log.info("wishes.parameter.versioned", parameter=name, version_id=version.id, valid_from=valid_from.isoformat())
    return version
