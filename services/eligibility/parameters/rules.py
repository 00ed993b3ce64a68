"""The parameter versions in force on a date, and the record of which ones a computation used.

Pure: the caller loads the rows (``parameters.service.parameters_on``) and hands them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any


class MissingParameter(LookupError):
    """No version of a parameter is in force on the date asked for; ``code`` = ``parameter_missing``."""

    code = "parameter_missing"

    def __init__(self, name: str, on: date) -> None:
        super().__init__(f"no version of parameter {name!r} is in force on {on.isoformat()}")
        self.name = name
        self.on = on


@dataclass(frozen=True)
class ParameterVersion:
    """One version of a policy parameter: ``value`` applies from ``valid_from`` to ``valid_to``
    (inclusive; None = open-ended)."""

    name: str
    value: Decimal
    valid_from: date
    valid_to: date | None = None
    id: int | None = None
    unit: str = ""

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    @property
    def label(self) -> str:
        """A human-readable version name: ``dibao_standard@2020-01-01``."""
        return f"{self.name}@{self.valid_from.isoformat()}"

    def trace(self) -> dict[str, Any]:
        value = format(self.value.quantize(Decimal("0.01")), "f") if self.unit == "yuan" else format(self.value.normalize(), "f")
        return {
            "name": self.name,
            "value": value,
            "version": self.label,
            "version_id": self.id,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }


class Parameters:
    """The versions in force on ``on``; reading a value records its version for the trace.

    ``params["dibao_standard"]`` -> Decimal; raises :class:`MissingParameter` when none is in
    force. ``params.used()`` lists the versions read, in first-read order.
    """

    def __init__(self, versions: Iterable[ParameterVersion], on: date) -> None:
        self.on = on
        self._by_name: dict[str, ParameterVersion] = {}
        for version in versions:
            if version.in_force(on):
                self._by_name[version.name] = version
        self._used: dict[str, ParameterVersion] = {}

    def version(self, name: str) -> ParameterVersion:
        try:
            version = self._by_name[name]
        except KeyError:
            raise MissingParameter(name, self.on) from None
        self._used.setdefault(name, version)
        return version

    def __getitem__(self, name: str) -> Decimal:
        return self.version(name).value

    def integer(self, name: str) -> int:
        """A count parameter (months, days, years) as int."""
        return int(self[name])

    def used(self) -> list[dict[str, Any]]:
        return [v.trace() for v in self._used.values()]

    def fork(self) -> Parameters:
        """The same versions with an empty usage record (one per computation)."""
        clone = Parameters((), self.on)
        clone._by_name = dict(self._by_name)
        return clone
