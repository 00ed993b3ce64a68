"""Centralized-support placement (集中供养) of tekun persons: pure policy, no I/O.

R-TK-3: persons with full loss of self-care ability who are willing go first to centralized-support
beds; the centralized rate among full-loss tekun persons reaches ``centralized_rate_target`` (50%)
by year end.

Allocation, in priority order (:func:`priority_key`): only willing, assessed candidates are
placed; full loss before partial loss before self-care; within a level the earliest assessment
first (the need known longest), then the earliest request, then the reference (deterministic). A
full-loss person needs a nursing bed (护理型床位); a partially dependent person takes an ordinary
bed, or a nursing bed when no ordinary one is free; a self-caring person an ordinary bed. A
candidate's preferred home is tried first, then the homes of the candidate's own town, then the
others, each group in the order the homes are given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

RULE = "R-TK-3"
BedType = Literal["nursing", "ordinary"]
LEVEL_RANK = {"full_loss": 0, "partial_loss": 1, "self_care": 2}
# Bed types a level may take, in preference order.
BEDS_FOR_LEVEL: dict[str, tuple[BedType, ...]] = {
    "full_loss": ("nursing",),
    "partial_loss": ("ordinary", "nursing"),
    "self_care": ("ordinary",),
}


@dataclass(frozen=True)
class Candidate:
    """A person on the waiting list. ``level`` None = not assessed yet."""

    ref: str
    level: str | None
    willing: bool
    town: str
    assessed_on: date | None
    requested_on: date
    preferred_home: str | None = None


@dataclass
class HomeBeds:
    """Free beds of a home at allocation time."""

    ref: str
    town: str
    free_nursing: int
    free_ordinary: int

    def free(self, bed: BedType) -> int:
        return self.free_nursing if bed == "nursing" else self.free_ordinary

    def take(self, bed: BedType) -> None:
        if bed == "nursing":
            self.free_nursing -= 1
        else:
            self.free_ordinary -= 1


@dataclass(frozen=True)
class Assignment:
    ref: str
    home: str
    bed_type: BedType
    priority: int


@dataclass(frozen=True)
class Waiting:
    ref: str
    position: int
    reason: str  # no_bed


@dataclass(frozen=True)
class Excluded:
    ref: str
    reason: str  # not_willing | not_assessed


@dataclass
class Allocation:
    assignments: list[Assignment] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)

    def trace(self) -> dict[str, Any]:
        return {
            "rule": RULE,
            "priority": ["willing", "full_loss", "partial_loss", "self_care", "earliest_assessment", "earliest_request"],
            "beds_for_level": {k: list(v) for k, v in BEDS_FOR_LEVEL.items()},
            "assigned": len(self.assignments),
            "waiting": len(self.waiting),
            "excluded": len(self.excluded),
        }


def priority_key(candidate: Candidate) -> tuple[Any, ...]:
    """Sort key of a placeable candidate (lower first): level, assessment date, request date, ref."""
    return (
        LEVEL_RANK.get(candidate.level or "", len(LEVEL_RANK)),
        candidate.assessed_on or date.max,
        candidate.requested_on,
        candidate.ref,
    )


def exclusion(candidate: Candidate) -> str | None:
    """Why a candidate cannot be placed at all: ``not_willing`` or ``not_assessed``; None if placeable."""
    if not candidate.willing:
        return "not_willing"
    if candidate.level not in LEVEL_RANK:
        return "not_assessed"
    return None


def order_candidates(candidates: Iterable[Candidate]) -> tuple[list[Candidate], list[Excluded]]:
    """Placeable candidates in priority order, and the excluded ones with their reason."""
    placeable, excluded = [], []
    for c in candidates:
        reason = exclusion(c)
        if reason is None:
            placeable.append(c)
        else:
            excluded.append(Excluded(c.ref, reason))
    placeable.sort(key=priority_key)
    return placeable, sorted(excluded, key=lambda e: e.ref)


def _home_order(candidate: Candidate, homes: Sequence[HomeBeds]) -> list[HomeBeds]:
    preferred = [h for h in homes if h.ref == candidate.preferred_home]
    own_town = [h for h in homes if h.town == candidate.town and h.ref != candidate.preferred_home]
    others = [h for h in homes if h.town != candidate.town and h.ref != candidate.preferred_home]
    return preferred + own_town + others


def allocate(candidates: Iterable[Candidate], homes: Sequence[HomeBeds]) -> Allocation:
    """R-TK-3: assign free beds to candidates in priority order (module docstring). ``homes`` are
    copied; the result lists the assignments, those still waiting (with their position on the
    waiting list) and those excluded."""
    beds = [HomeBeds(h.ref, h.town, h.free_nursing, h.free_ordinary) for h in homes]
    placeable, excluded = order_candidates(candidates)
    result = Allocation(excluded=excluded)
    for priority, candidate in enumerate(placeable, start=1):
        placed = False
        for bed in BEDS_FOR_LEVEL[candidate.level or ""]:
            for home in _home_order(candidate, beds):
                if home.free(bed) > 0:
                    home.take(bed)
                    result.assignments.append(Assignment(candidate.ref, home.ref, bed, priority))
                    placed = True
                    break
            if placed:
                break
        if not placed:
            result.waiting.append(Waiting(candidate.ref, len(result.waiting) + 1, "no_bed"))
    return result


RATE_PLACES = Decimal("0.0001")


def centralized_rate(full_loss: int, centralized: int) -> Decimal | None:
    """R-TK-3 KPI: centralized / full-loss tekun persons, half-up to 4 places; None when there are
    no full-loss tekun persons. Raises ValueError for negative counts or centralized > full_loss."""
    if full_loss < 0 or centralized < 0 or centralized > full_loss:
        raise ValueError("counts must satisfy 0 <= centralized <= full_loss")
    if full_loss == 0:
        return None
    return (Decimal(centralized) / Decimal(full_loss)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def target_met(full_loss: int, centralized: int, target: Decimal) -> bool | None:
    """Whether centralized / full_loss reaches ``target``, compared exactly (not the rounded
    rate); None when there are no full-loss tekun persons."""
    if full_loss == 0:
        return None
    return Decimal(centralized) >= target * Decimal(full_loss)
