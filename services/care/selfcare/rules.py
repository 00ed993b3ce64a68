"""Self-care assessment of tekun persons (特困人员生活自理能力评估): pure policy, no I/O.

R-TK-2: six daily activities are assessed — eating (吃饭), dressing (穿衣), getting in and out of bed
(上下床), toileting (如厕), walking indoors (室内行走) and bathing (洗澡). All achieved = self-care
(具备生活自理能力); 1–3 not achieved = partial loss (部分丧失); 4 or more = full loss (完全丧失).
R-TK-1: a change in self-care ability is reassessed within ``reassessment_working_days`` (10)
working days of its report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

from shared.calendar import TZ, Deadline, WorkingDayCalendar, working_day_deadline

RULE = "R-TK-2"
REASSESSMENT_RULE = "R-TK-1"

# The six items in the national standard's order, with their Chinese terms.
ITEMS: dict[str, str] = {
    "eating": "吃饭",
    "dressing": "穿衣",
    "bed_transfer": "上下床",
    "toileting": "如厕",
    "walking_indoors": "室内行走",
    "bathing": "洗澡",
}
Level = Literal["self_care", "partial_loss", "full_loss"]
LEVELS: tuple[Level, ...] = ("self_care", "partial_loss", "full_loss")
LEVEL_NAMES: dict[str, str] = {"self_care": "具备生活自理能力", "partial_loss": "部分丧失生活自理能力", "full_loss": "完全丧失生活自理能力"}
# 1..3 items not achieved = partial loss; FULL_LOSS_FROM or more = full loss (national standard,
# not a local parameter).
FULL_LOSS_FROM = 4


class SelfCareInputError(ValueError):
    """Refused assessment input; ``code``: ``unknown_item`` or ``duplicate_item``."""

    def __init__(self, code: Literal["unknown_item", "duplicate_item"], item: str) -> None:
        super().__init__(f"{code.replace('_', ' ')}: {item!r}")
        self.code = code
        self.item = item


@dataclass(frozen=True)
class SelfCareResult:
    """The level and what led to it; ``not_achieved`` in the standard's item order."""

    level: Level
    not_achieved: tuple[str, ...]

    @property
    def not_achieved_count(self) -> int:
        return len(self.not_achieved)

    def trace(self) -> dict[str, Any]:
        return {
            "rule": RULE,
            "inputs": {"not_achieved": list(self.not_achieved)},
            "items": {item: item not in self.not_achieved for item in ITEMS},
            "not_achieved_count": self.not_achieved_count,
            "thresholds": {"self_care": 0, "partial_loss": f"1-{FULL_LOSS_FROM - 1}", "full_loss": f">={FULL_LOSS_FROM}"},
            "level": self.level,
            "level_name": LEVEL_NAMES[self.level],
            "parameters": [],
        }


def check_items(not_achieved: Iterable[str]) -> tuple[str, ...]:
    """The items in the standard's order; raises :class:`SelfCareInputError` for an item that is
    not one of the six (``unknown_item``) or one listed twice (``duplicate_item``)."""
    seen: set[str] = set()
    for item in not_achieved:
        if item not in ITEMS:
            raise SelfCareInputError("unknown_item", item)
        if item in seen:
            raise SelfCareInputError("duplicate_item", item)
        seen.add(item)
    return tuple(i for i in ITEMS if i in seen)


def level_for_count(count: int) -> Level:
    """R-TK-2: 0 items not achieved = ``self_care``; 1–3 = ``partial_loss``; 4–6 = ``full_loss``.
    Raises ValueError outside 0..6."""
    if not 0 <= count <= len(ITEMS):
        raise ValueError("count must be between 0 and 6")
    if count == 0:
        return "self_care"
    if count < FULL_LOSS_FROM:
        return "partial_loss"
    return "full_loss"


def assess(not_achieved: Iterable[str]) -> SelfCareResult:
    """R-TK-2: the self-care level from the items *not* achieved (any order).

    Raises :class:`SelfCareInputError` (``unknown_item``, ``duplicate_item``).
    """
    items = check_items(not_achieved)
    return SelfCareResult(level=level_for_count(len(items)), not_achieved=items)


def reassessment_deadline(reported_on: date, working_days: int, calendar: WorkingDayCalendar) -> Deadline:
    """R-TK-1: a change of self-care ability reported on ``reported_on`` is reassessed by the end
    (24:00 Asia/Shanghai) of the ``working_days``-th working day after it (the report day does not
    count). ``provisional`` when a year without official arrangement was used."""
    return working_day_deadline(datetime.combine(reported_on, time(12), tzinfo=TZ), working_days, calendar)
