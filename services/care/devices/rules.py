"""Smart monitoring devices (云守护) and their alerts: pure policy, no I/O.

R-LB-3: devices raise alerts (SOS, fall, inactivity); an alert is acknowledged within
``alert_ack_minutes`` (30) of its receipt or it escalates — once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

RULE = "R-LB-3"
AlertKind = Literal["sos", "fall", "inactivity"]
ALERT_KINDS: dict[str, str] = {"sos": "一键呼救", "fall": "跌倒", "inactivity": "长时间无活动"}
Outcome = Literal["false_alarm", "resolved_on_site", "medical_referral", "hospitalised", "referred_relief", "other"]


def ack_deadline(received_at: datetime, ack_minutes: int) -> datetime:
    """The moment by which the alert must be acknowledged: ``ack_minutes`` after its receipt.
    Raises ValueError for a naive time or minutes below 1."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    if ack_minutes < 1:
        raise ValueError("ack_minutes must be at least 1")
    return received_at + timedelta(minutes=ack_minutes)


def must_escalate(deadline: datetime, now: datetime, *, acknowledged: bool, escalated: bool, closed: bool) -> bool:
    """R-LB-3: escalate when the deadline has passed with no acknowledgement, not yet escalated
    and not closed (a deadline exactly now has passed)."""
    return not (acknowledged or escalated or closed) and now >= deadline


def acknowledged_in_time(deadline: datetime, acknowledged_at: datetime) -> bool:
    return acknowledged_at < deadline
