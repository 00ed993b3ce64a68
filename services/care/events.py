"""The events the care service produces (one pydantic model per type; docs/events.md, care).

``person_id`` / ``household_id`` are the registry's (eligibility) ids, null for a person registered
only in care; ``care_person_id`` is always care's own id. Dates ``YYYY-MM-DD``, times RFC 3339.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

SELFCARE_ASSESSED = "care.selfcare.assessed"
REASSESSMENT_OVERDUE = "care.reassessment.overdue"
PLACEMENT_MADE = "care.placement.made"
PLACEMENT_ENDED = "care.placement.ended"
SUPERVISION_OVERDUE = "care.supervision.overdue"
VISIT_RECORDED = "care.visit.recorded"
VISIT_OVERDUE = "care.visit.overdue"
REFERRAL_CREATED = "care.referral.created"
ALERT_ESCALATED = "care.alert.escalated"


class _Person(BaseModel):
    care_person_id: str
    person_id: str | None
    household_id: str | None
    town: str


class SelfCareAssessed(_Person):
    """R-TK-2: a tekun person's self-care level; subsidy pays the care tier from it."""

    assessment_id: str
    level: Literal["self_care", "partial_loss", "full_loss"]
    previous_level: str | None
    assessed_on: date
    reason: str  # initial | review | reassessment
    rule: str = "R-TK-2"


class ReassessmentOverdue(_Person):
    """R-TK-1: a reported change of ability was not reassessed within the working days."""

    reassessment_id: str
    reported_on: date
    due_on: date
    deadline_at: datetime
    rule: str = "R-TK-1"


class PlacementMade(_Person):
    """R-TK-3: a tekun person got a centralized-support bed (R-TK-4 fees follow from it)."""

    placement_id: str
    home_id: str
    home_name: str
    home_town: str
    bed_type: Literal["nursing", "ordinary"]
    started_on: date
    level: str | None
    rule: str = "R-TK-3"


class PlacementEnded(_Person):
    placement_id: str
    home_id: str
    ended_on: date
    reason: str
    rule: str = "R-TK-3"


class SupervisionOverdue(_Person):
    """R-TK-5: one of the three supervisions of a period of a care contract is missing."""

    contract_id: str
    period_start: date
    period_end: date
    kind: Literal["duty_fulfilled", "service_quality", "regular_visit"]
    rule: str = "R-TK-5"


class VisitRecorded(_Person):
    visit_id: str
    plan_id: str
    category: str
    visited_on: date
    method: Literal["phone", "wechat", "home_visit"]
    due_on: date
    on_time: bool
    rule: str = "R-LB-2"


class VisitOverdue(_Person):
    """R-LB-2: the plan's period passed without a visit (fired once per due date)."""

    plan_id: str
    category: str
    due_on: date
    volunteer_id: str | None
    rule: str = "R-LB-2"


class ReferralCreated(_Person):
    """A visit's follow-up referred the person to relief or eligibility. ``name`` and
    ``id_number`` travel only for a person the registry does not know (the receiver needs them
    to act)."""

    referral_id: str
    to: Literal["relief", "eligibility"]
    reason: str
    visit_id: str | None
    village: str | None
    name: str | None = None
    id_number: str | None = None
    rule: str = "R-LB-2"


class AlertEscalated(_Person):
    """R-LB-3: a device alert was not acknowledged within ``alert_ack_minutes`` (fired once)."""

    alert_id: str
    device_id: str
    kind: str
    occurred_at: datetime
    received_at: datetime
    ack_deadline: datetime
    assignee: str | None
    rule: str = "R-LB-3"
