"""The relief service's policy parameters: their names, units, defaults and checks (pure).

Every number of POLICY.md measure 5 is a *versioned* parameter (``valid_from`` / ``valid_to``)
kept in the database; this module says which parameters exist, what POLICY.md gives as their
default (seeded by the initial migration) and which values are acceptable. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

Unit = Literal["yuan", "working_days", "ratio"]


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its ``name``, ``unit``, POLICY.md default, the rule it belongs to and a
    one-line description."""

    name: str
    unit: Unit
    default: Decimal
    rule: str
    description: str


# The date the seeded defaults take effect: 泉港民〔2020〕40号 is the district's 2020 measures.
DEFAULTS_VALID_FROM = date(2020, 1, 1)

SPECS: dict[str, ParameterSpec] = {
    spec.name: spec
    for spec in (
        ParameterSpec("town_approval_limit", "yuan", Decimal("3000.00"), "R-TR-3",
                      "largest amount a town (镇/街道) approves and pays from its reserve"),
        ParameterSpec("case_cap", "yuan", Decimal("5000.00"), "R-TR-3",
                      "largest amount of one relief case (单笔); above it the case is refused"),
        ParameterSpec("sla_working_days", "working_days", Decimal(5), "R-TR-2",
                      "emergency relief is paid within this many working days of acceptance"),
        ParameterSpec("at_risk_working_days", "working_days", Decimal(1), "R-TR-2",
                      "warn (at risk) when this many working days remain before the SLA deadline"),
        ParameterSpec("paperwork_working_days", "working_days", Decimal(10), "R-TR-5",
                      "missing documents of a case paid first (先行救助) are due within this many working days"),
        ParameterSpec("reserve_usage_target", "ratio", Decimal("0.90"), "R-TR-4",
                      "KPI: paid / allocated reserve of a town should reach this share"),
    )
}


class ParameterValueError(ValueError):
    """A refused parameter value; ``code``: unknown_parameter, invalid_parameter_value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_value(name: str, value: Decimal) -> Decimal:
    """The normalised value of parameter ``name``, or :class:`ParameterValueError`.

    yuan: > 0, whole fen (two places); working_days: a whole number, ``at_risk_working_days`` ≥ 0,
    the others ≥ 1, all ≤ 60; ratio: 0 < value ≤ 1, at most 4 places.
    """
    spec = SPECS.get(name)
    if spec is None:
        raise ParameterValueError("unknown_parameter", f"no parameter named {name!r}")
    if not value.is_finite():
        raise ParameterValueError("invalid_parameter_value", "the value must be a finite number")
    if spec.unit == "yuan":
        if value <= 0 or value != value.quantize(Decimal("0.01")):
            raise ParameterValueError("invalid_parameter_value", f"{name} must be a positive amount in whole fen")
        return value.quantize(Decimal("0.01"))
    if spec.unit == "working_days":
        low = 0 if name == "at_risk_working_days" else 1
        if value != value.to_integral_value() or not low <= value <= 60:
            raise ParameterValueError("invalid_parameter_value", f"{name} must be a whole number of working days ({low}–60)")
        return Decimal(int(value))
    if not Decimal(0) < value <= Decimal(1) or value != value.quantize(Decimal("0.0001")):
        raise ParameterValueError("invalid_parameter_value", f"{name} must be a ratio in (0, 1] with at most 4 places")
    return value


def check_consistency(values: dict[str, Decimal]) -> None:
    """Cross-parameter checks of one set in force together (R-TR-2, R-TR-3).

    ``town_approval_limit`` ≤ ``case_cap``; ``at_risk_working_days`` < ``sla_working_days``.
    Missing names are not checked. Raises :class:`ParameterValueError` (invalid_parameter_value).
    """
    limit, cap = values.get("town_approval_limit"), values.get("case_cap")
    if limit is not None and cap is not None and limit > cap:
        raise ParameterValueError("invalid_parameter_value", "town_approval_limit must not exceed case_cap")
    warn, sla = values.get("at_risk_working_days"), values.get("sla_working_days")
    if warn is not None and sla is not None and warn >= sla:
        raise ParameterValueError("invalid_parameter_value", "at_risk_working_days must be less than sla_working_days")


@dataclass(frozen=True)
class ParameterVersion:
    """The version of one parameter a computation used (recorded in its trace)."""

    id: int
    name: str
    value: Decimal
    valid_from: date
    valid_to: date | None

    def trace(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "value": str(self.value),
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }


@dataclass(frozen=True)
class PolicySet:
    """Every relief parameter in force on ``on``, with the versions they come from."""

    on: date
    versions: tuple[ParameterVersion, ...]

    def _value(self, name: str) -> Decimal:
        for version in self.versions:
            if version.name == name:
                return version.value
        raise KeyError(name)

    @property
    def town_approval_limit(self) -> Decimal:
        """Yuan (R-TR-3)."""
        return self._value("town_approval_limit").quantize(Decimal("0.01"))

    @property
    def case_cap(self) -> Decimal:
        """Yuan (R-TR-3)."""
        return self._value("case_cap").quantize(Decimal("0.01"))

    @property
    def sla_working_days(self) -> int:
        """Working days (R-TR-2)."""
        return int(self._value("sla_working_days"))

    @property
    def at_risk_working_days(self) -> int:
        """Working days (R-TR-2)."""
        return int(self._value("at_risk_working_days"))

    @property
    def paperwork_working_days(self) -> int:
        """Working days (R-TR-5)."""
        return int(self._value("paperwork_working_days"))

    @property
    def reserve_usage_target(self) -> Decimal:
        """Ratio (R-TR-4)."""
        return self._value("reserve_usage_target")

    def used(self, *names: str) -> list[dict[str, object]]:
        """Trace entries of the named versions (all when no name is given)."""
        return [v.trace() for v in self.versions if not names or v.name in names]
