"""The left-behind registry (农村"三留守"人员): each category's criteria, pure policy, no I/O.

R-LB-1: left-behind children, elderly and women are registered with a dynamic status and history.
The criteria follow the national definitions, with their numbers as parameters:

- child (农村留守儿童): under ``left_behind_child_max_age`` (16); both parents away working, or one
  away and the other unable to act as guardian; away ``left_behind_absence_months`` (6) or more.
- elderly (农村留守老人): ``left_behind_elderly_min_age`` (60) or older; all children (supporters)
  away working for ``left_behind_absence_months`` or more.
- woman (农村留守妇女): a woman whose husband has been away working that long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

RULE = "R-LB-1"
Category = Literal["child", "elderly", "woman"]
CATEGORY_NAMES: dict[str, str] = {"child": "留守儿童", "elderly": "留守老人", "woman": "留守妇女"}
# The visit-plan category (R-LB-2) of each registry category.
VISIT_CATEGORY: dict[str, str] = {"child": "left_behind_child", "elderly": "left_behind_elderly", "woman": "left_behind_woman"}


@dataclass(frozen=True)
class Criteria:
    """The parameters in force: ages in years, absence in months."""

    child_max_age: int
    elderly_min_age: int
    absence_months: int


@dataclass
class CriteriaResult:
    met: bool
    failures: list[str] = field(default_factory=list)
    trace: dict[str, Any] = field(default_factory=dict)


def age_on(birth_date: date, on: date) -> int:
    """Completed years of age on ``on`` (a 29 February birthday is reached on 1 March)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def check(
    category: Category, *, sex: str | None, birth_date: date | None, on: date, facts: dict[str, Any], criteria: Criteria
) -> CriteriaResult:
    """R-LB-1: whether a person meets ``category``'s criteria on ``on``.

    ``facts``: child — ``parents`` (``both_away`` / ``one_away_other_unable``),
    ``absence_months``; elderly — ``children_away`` (bool), ``absence_months``; woman —
    ``husband_away`` (bool), ``absence_months``. Failure codes: ``birth_date_unknown``,
    ``too_old``, ``too_young``, ``not_female``, ``children_not_away``, ``husband_not_away``,
    ``absence_too_short``.
    """
    failures: list[str] = []
    age = age_on(birth_date, on) if birth_date is not None else None
    if age is None:
        failures.append("birth_date_unknown")
    absence = int(facts.get("absence_months") or 0)
    if category == "child":
        if age is not None and age >= criteria.child_max_age:
            failures.append("too_old")
        if facts.get("parents") not in ("both_away", "one_away_other_unable"):
            failures.append("parents_not_away")
    elif category == "elderly":
        if age is not None and age < criteria.elderly_min_age:
            failures.append("too_young")
        if not facts.get("children_away"):
            failures.append("children_not_away")
    elif category == "woman":
        if sex != "female":
            failures.append("not_female")
        if not facts.get("husband_away"):
            failures.append("husband_not_away")
    else:  # pragma: no cover - Literal guards it
        raise ValueError(f"unknown category {category!r}")
    if absence < criteria.absence_months:
        failures.append("absence_too_short")
    return CriteriaResult(
        met=not failures,
        failures=failures,
        trace={
            "rule": RULE,
            "category": category,
            "on": on.isoformat(),
            "age": age,
            "absence_months": absence,
            "criteria": {
                "child_max_age": criteria.child_max_age,
                "elderly_min_age": criteria.elderly_min_age,
                "absence_months": criteria.absence_months,
            },
            "failures": failures,
        },
    )


def child_ages_out_on(birth_date: date, max_age: int) -> date:
    """The day a left-behind child reaches ``max_age`` and leaves the child category."""
    try:
        return birth_date.replace(year=birth_date.year + max_age)
    except ValueError:  # 29 February in a non-leap year
        return date(birth_date.year + max_age, 3, 1)


def latest_birth_aged_out(on: date, max_age: int) -> date:
    """The latest birth date of a child who has reached ``max_age`` by ``on``: a child born on or
    before it has aged out (consistent with :func:`child_ages_out_on`)."""
    try:
        return on.replace(year=on.year - max_age)
    except ValueError:  # on is 29 February and the birth year is not a leap year
        return date(on.year - max_age, 2, 28)
