"""Safe-housing projects (低保安居工程): pure rules R-HS-1. No I/O, Decimal money.

A project moves planned → started → structure_done → accepted, one step at a time; reaching
``started``, ``structure_done`` and ``accepted`` each releases a tranche of the housing subsidy
(30% / 40% / 30% by default). KPI: projects accepted against the target (50).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from shared.money import round_fen

STAGES = ("planned", "started", "structure_done", "accepted")
PAID_MILESTONES = ("started", "structure_done", "accepted")


class MilestoneError(ValueError):
    """A refused milestone; ``code`` is ``milestone_out_of_order`` or ``project_complete``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def next_stage(current: str) -> str:
    """The stage after ``current``; MilestoneError ``project_complete`` after ``accepted``."""
    index = STAGES.index(current)
    if index == len(STAGES) - 1:
        raise MilestoneError("project_complete", "the project is already accepted")
    return STAGES[index + 1]


def check_milestone(current: str, reached: str) -> None:
    """R-HS-1: milestones are reached in order, one at a time."""
    if reached not in PAID_MILESTONES:
        raise MilestoneError("milestone_out_of_order", f"unknown milestone {reached!r}")
    expected = next_stage(current)
    if reached != expected:
        raise MilestoneError("milestone_out_of_order", f"the project is {current}: the next milestone is {expected}")


def tranche_amount(*, subsidy: Decimal, ratios: Mapping[str, Decimal], milestone: str) -> Decimal:
    """R-HS-1: the tranche paid at ``milestone`` = subsidy × its ratio, rounded half-up to the fen;
    the last tranche (``accepted``) is what remains, so the tranches add up to the subsidy exactly."""
    if milestone == PAID_MILESTONES[-1]:
        paid = sum((round_fen(subsidy * ratios[m]) for m in PAID_MILESTONES[:-1]), Decimal("0.00"))
        return subsidy - paid
    return round_fen(subsidy * ratios[milestone])


@dataclass(frozen=True)
class HousingKpi:
    accepted: int
    target: int

    @property
    def rate(self) -> Decimal:
        """Accepted / target, as a fraction with 4 places (1.0000 = target met)."""
        if self.target <= 0:
            return Decimal("1.0000")
        return (Decimal(self.accepted) / Decimal(self.target)).quantize(Decimal("0.0001"))

    @property
    def met(self) -> bool:
        return self.accepted >= self.target
