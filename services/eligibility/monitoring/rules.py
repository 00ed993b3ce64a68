"""Pure R-RM-1..5 functions: who is monitored, which flags a household raises, what is referred.

Money is exact (Decimal in, Fraction inside); figures in the result are rounded for display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from services.eligibility.figures import ZERO, Exact, exact, fen_half_up, show, show_exact
from services.eligibility.parameters.rules import Parameters

# R-RM-2: rigid expenditure of illness, disability, disaster, epidemic (因病、因残、因灾、因疫).
RIGID_CATEGORIES: tuple[str, ...] = ("medical", "disability", "disaster", "epidemic")
FlagCode = Literal["expenditure_shock", "income_shock", "low_income"]


@dataclass(frozen=True)
class MonitoringInput:
    """A household's figures on ``assessed_on``: incomes of the last 12 months and the 12 before,
    income of the previous calendar year, rigid expenditure of the last 12 months by category,
    deductions of R-DB-2 (for the per-capita income), and its situation."""

    assessed_on: date
    members: int
    income_12m: Exact
    income_prev_12m: Exact
    income_prev_year: Exact
    rigid_expenditure_12m: Mapping[str, Exact] = field(default_factory=dict)
    deductions_12m: Exact = Decimal(0)
    ex_poor: bool = False
    edge: bool = False
    department_data: bool = False
    covered: bool = False


@dataclass(frozen=True)
class Flag:
    rule: str
    code: FlagCode
    figures: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "code": self.code, "figures": self.figures}


@dataclass(frozen=True)
class Referral:
    kind: Literal["assessment", "expenditure_relief"]
    reasons: tuple[str, ...]
    suggested_amount: Decimal | None


@dataclass(frozen=True)
class MonitoringResult:
    monitored: bool
    population: tuple[str, ...]
    flags: tuple[Flag, ...]
    referrals: tuple[Referral, ...]
    covered: bool
    figures: dict[str, str]
    parameters: list[dict[str, Any]]
    inputs: dict[str, Any]
    rules: tuple[str, ...] = ("R-RM-1", "R-RM-2", "R-RM-3", "R-RM-4", "R-RM-5")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.flags)

    def trace(self) -> dict[str, Any]:
        return {
            "rules": list(self.rules),
            "inputs": self.inputs,
            "parameters": self.parameters,
            "figures": self.figures,
            "flags": [f.as_dict() for f in self.flags],
        }


def population(ex_poor: bool, edge: bool, department_data: bool) -> tuple[str, ...]:
    """R-RM-1: why a household is monitored: ex-poor (已脱贫), registered edge (建档立卡边缘), or
    data reported by another department. Empty: not monitored."""
    reasons = []
    if ex_poor:
        reasons.append("ex_poor")
    if edge:
        reasons.append("edge")
    if department_data:
        reasons.append("department_data")
    return tuple(reasons)


def evaluate(data: MonitoringInput, params: Parameters) -> MonitoringResult:
    """R-RM-2..5 on one household.

    - R-RM-2 expenditure shock: rigid expenditure of 12 months > ``expenditure_shock_ratio`` ×
      income of the previous calendar year.
    - R-RM-3 income shock: income of 12 months ≤ (1 − ``income_drop_ratio``) × income of the 12
      months before (a fall of at least that share; needs a positive earlier income).
    - R-RM-4 low income: per-capita monthly income (R-DB-2, after deductions) <
      ``monitoring_line_factor`` × dibao standard.
    - R-RM-5: a flagged household not covered by dibao or tekun is referred for assessment; an
      expenditure shock also suggests expenditure-type temporary relief of the excess, capped at
      ``expenditure_relief_cap``.

    Flags are computed for any household (a calculator may ask); ``monitored`` says whether it is
    in the R-RM-1 population. Raises ValueError for members < 1 or negative amounts.
    """
    if data.members < 1:
        raise ValueError("members must be at least 1")
    income = exact(data.income_12m)
    previous = exact(data.income_prev_12m)
    prev_year = exact(data.income_prev_year)
    rigid = {k: exact(v) for k, v in data.rigid_expenditure_12m.items()}
    deductions = exact(data.deductions_12m)
    if min([income, previous, prev_year, deductions, *rigid.values()]) < 0:
        raise ValueError("amounts must not be negative")
    unknown = set(rigid) - set(RIGID_CATEGORIES)
    if unknown:
        raise ValueError(f"not rigid expenditure: {sorted(unknown)}")
    rigid_total = sum(rigid.values(), ZERO)
    flags: list[Flag] = []

    shock_ratio = exact(params["expenditure_shock_ratio"])
    shock_line = shock_ratio * prev_year
    excess = rigid_total - shock_line
    if rigid_total > shock_line:
        flags.append(Flag("R-RM-2", "expenditure_shock", {
            "rigid_expenditure_12m": show(rigid_total),
            "income_prev_year": show(prev_year),
            "threshold": show(shock_line),
            "excess": show(excess),
        }))

    drop = exact(params["income_drop_ratio"])
    drop_line = (1 - drop) * previous
    if previous > 0 and income <= drop_line:
        flags.append(Flag("R-RM-3", "income_shock", {
            "income_12m": show(income),
            "income_prev_12m": show(previous),
            "threshold": show(drop_line),
            "drop_share": show_exact((previous - income) / previous, 4),
        }))

    standard = exact(params["dibao_standard"])
    line = exact(params["monitoring_line_factor"]) * standard
    per_capita = max(income - deductions, ZERO) / 12 / data.members
    if per_capita < line:
        flags.append(Flag("R-RM-4", "low_income", {
            "per_capita_monthly": show(per_capita),
            "monitoring_line": show(line),
            "dibao_standard": show(standard),
        }))

    pop = population(data.ex_poor, data.edge, data.department_data)
    referrals: list[Referral] = []
    codes = tuple(f.code for f in flags)
    if flags and not data.covered:
        referrals.append(Referral("assessment", codes, None))
    if "expenditure_shock" in codes:
        cap = exact(params["expenditure_relief_cap"])
        referrals.append(Referral("expenditure_relief", ("expenditure_shock",), fen_half_up(min(excess, cap))))

    figures = {
        "income_12m": show(income),
        "income_prev_12m": show(previous),
        "income_prev_year": show(prev_year),
        "rigid_expenditure_12m": show(rigid_total),
        "per_capita_monthly": show(per_capita),
    }
    inputs = {
        "assessed_on": data.assessed_on.isoformat(),
        "members": data.members,
        "income_12m": show_exact(income),
        "income_prev_12m": show_exact(previous),
        "income_prev_year": show_exact(prev_year),
        "rigid_expenditure_12m": {k: show(v) for k, v in sorted(rigid.items())},
        "deductions_12m": show(deductions),
        "ex_poor": data.ex_poor,
        "edge": data.edge,
        "department_data": data.department_data,
        "covered": data.covered,
    }
    return MonitoringResult(
        monitored=bool(pop),
        population=pop,
        flags=tuple(flags),
        referrals=tuple(referrals),
        covered=data.covered,
        figures=figures,
        parameters=params.used(),
        inputs=inputs,
    )


