"""Care pilots (R-LB-4): who may be enrolled in a programme, pure policy, no I/O.

The seed names two pilots: care services for poor persons with severe disabilities (贫困重度残疾人
照护服务试点) and community rehabilitation for mental disorders in 锦塔社区 of 山腰街道 (精神障碍社区
康复服务试点), offering spiritual comfort, community rehabilitation, hardship help, social
integration and social support (精神慰藉、社区康复、困难帮扶、社会融入、社会支持).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RULE = "R-LB-4"
ProgrammeKind = Literal["severe_disability_care", "mental_health_rehab", "other"]
SERVICE_TYPES: dict[str, str] = {
    "spiritual_comfort": "精神慰藉",
    "community_rehabilitation": "社区康复",
    "hardship_help": "困难帮扶",
    "social_integration": "社会融入",
    "social_support": "社会支持",
    "daily_care": "生活照料",
    "nursing": "护理",
}
# Severe disability (重度残疾人): grades 1 and 2.
SEVERE_GRADES = (1, 2)


@dataclass(frozen=True)
class EnrolmentFacts:
    disability_grade: int | None
    disability_kind: str | None
    in_registry: bool  # a member of an assisted (poor) household, known to the registry
    town: str
    village: str | None


def enrolment_failures(kind: str, facts: EnrolmentFacts, *, area_town: str | None, area_village: str | None) -> list[str]:
    """Why a person cannot join a programme of ``kind`` (empty = may join): ``outside_area``
    (not living in the programme's town/village), ``not_severely_disabled`` (grade 1–2
    required), ``not_in_registry`` (the severe-disability pilot is for poor persons),
    ``not_mental_disorder`` (the rehabilitation pilot is for mental disability)."""
    failures = []
    if area_town is not None and facts.town != area_town:
        failures.append("outside_area")
    elif area_village is not None and facts.village != area_village:
        failures.append("outside_area")
    if kind == "severe_disability_care":
        if facts.disability_grade not in SEVERE_GRADES:
            failures.append("not_severely_disabled")
        if not facts.in_registry:
            failures.append("not_in_registry")
    elif kind == "mental_health_rehab":
        if facts.disability_kind != "mental":
            failures.append("not_mental_disorder")
    return failures
