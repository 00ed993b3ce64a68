"""Bodies of the device and alert endpoints (R-LB-3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from services.care.common import Model, Out, ShortText, Text
from shared.timestamps import BusinessDate, BusinessDatetime

DeviceKind = Literal["sos_button", "fall_detector", "smart_watch", "door_sensor", "camera", "other"]
AlertKind = Literal["sos", "fall", "inactivity"]
Outcome = Literal["false_alarm", "resolved_on_site", "medical_referral", "hospitalised", "referred_relief", "other"]


class DeviceIn(Model):
    serial: ShortText
    kind: DeviceKind
    person_id: uuid.UUID
    installed_on: BusinessDate | None = None


class RemoveDeviceIn(Model):
    removed_on: BusinessDate


class DeviceOut(Out):
    id: uuid.UUID
    serial: str
    kind: str
    person_id: uuid.UUID
    town: str
    installed_on: date
    status: str
    removed_on: date | None


class AlertIn(Model):
    """An alert from the device platform: the device's serial, the kind, when it happened, and
    the platform's own alert id (a repeat of the same id is the same alert)."""

    device_serial: ShortText
    kind: AlertKind
    occurred_at: BusinessDatetime
    external_id: ShortText | None = None


class AssignIn(Model):
    """Assign the alert to a user (their token ``sub``: a care worker, volunteer or caseworker)."""

    assignee: ShortText


class CloseIn(Model):
    outcome: Outcome
    note: Text | None = None


class AlertOut(Out):
    id: uuid.UUID
    device_id: uuid.UUID
    person_id: uuid.UUID
    town: str
    kind: str
    external_id: str | None
    occurred_at: datetime
    received_at: datetime
    ack_minutes: int
    parameter_version_id: int
    ack_deadline: datetime
    status: str
    assignee: str | None
    assigned_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated: bool = False
    escalated_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    acknowledged_in_time: bool | None = None
