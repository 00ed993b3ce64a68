"""Use cases of monitoring devices and alerts (R-LB-3): registration, intake, assignment,
acknowledgement, the escalation sweep and closing."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update

from services.care import events
from services.care.common import READ_ROLES, WRITE_ROLES, ensure_not_future, today
from services.care.devices import rules
from services.care.devices.models import Alert, Device
from services.care.emit import emit_many
from services.care.parameters.service import parameters_on
from services.care.persons.models import Person
from services.care.persons.service import ensure_alive, ensure_record_visible, visible_person
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem, not_found

log = structlog.get_logger("care.devices")

ACK_MINUTES = "alert_ack_minutes"
# A device clock a little ahead of ours is tolerated; an alert further in the future is refused.
CLOCK_SKEW = timedelta(minutes=5)


async def register_device(
    *, uow: UnitOfWork, principal: Principal, serial: str, kind: str, person_id: uuid.UUID, installed_on: date | None
) -> Device:
    """Register a device installed for a person. 409 ``device_exists``, ``person_deceased``;
    422 ``future_date``."""
    person = await visible_person(uow, principal, person_id)
    ensure_alive(person)
    on = installed_on or today(uow)
    ensure_not_future(on, today(uow), "installed_on")
    if await uow.session.scalar(select(Device.id).where(Device.serial == serial)) is not None:
        raise Problem(409, "device_exists", "A device with this serial is registered")
    device = Device(
        serial=serial, kind=kind, person_id=person.id, town=person.town, installed_on=on, status="active",
        created_by=principal.subject, created_at=uow.now(),
    )
    uow.session.add(device)
    await uow.session.flush()
    return device


async def visible_device(uow: UnitOfWork, principal: Principal, device_id: uuid.UUID, *, for_update: bool = False) -> Device:
    """The device if ``principal`` may see it (its town's staff; a village officer, its village's
    persons'), else 404 (R-DB-7)."""
    device = await uow.session.get(Device, device_id, with_for_update=for_update)
    if device is None:
        raise not_found("device")
    await ensure_record_visible(uow, principal, device.town, device.person_id, "device")
    return device


async def remove_device(*, uow: UnitOfWork, principal: Principal, device_id: uuid.UUID, removed_on: date) -> Device:
    """Mark a device removed (its later alerts are refused). 409 ``device_removed``."""
    device = await visible_device(uow, principal, device_id, for_update=True)
    if device.status != "active":
        raise Problem(409, "device_removed", "The device is already removed")
    ensure_not_future(removed_on, today(uow), "removed_on")
    device.status, device.removed_on = "removed", removed_on
    return device


async def remove_devices_of(uow: UnitOfWork, person_id: uuid.UUID, on: date) -> None:
    await uow.session.execute(
        update(Device).where(Device.person_id == person_id, Device.status == "active").values(status="removed", removed_on=on)
    )


async def receive_alert(
    *, uow: UnitOfWork, serial: str, kind: str, occurred_at: datetime, external_id: str | None
) -> tuple[Alert, bool]:
    """Take in an alert from the device platform (R-LB-3): due for acknowledgement within
    ``alert_ack_minutes`` of its receipt. Returns (alert, created); a repeat of the platform's
    ``external_id`` for the device returns the first alert. 422 ``unknown_device`` (unknown or
    removed serial), ``future_time``."""
    now = uow.now()
    device = await uow.session.scalar(select(Device).where(Device.serial == serial))
    if device is None or device.status != "active":
        raise Problem(422, "unknown_device", "No active device with this serial",
                      errors=[{"field": "device_serial", "code": "unknown_device", "message": "unknown or removed device"}])
    if occurred_at > now + CLOCK_SKEW:
        raise Problem(422, "future_time", "occurred_at is in the future",
                      errors=[{"field": "occurred_at", "code": "future_time", "message": "after the time of receipt"}])
    if external_id is not None:
        existing = await uow.session.scalar(
            select(Alert).where(Alert.device_id == device.id, Alert.external_id == external_id)
        )
        if existing is not None:
            return existing, False
    params = await parameters_on(uow, today(uow), [ACK_MINUTES])
    minutes = params.get_int(ACK_MINUTES)
    alert = Alert(
        device_id=device.id, person_id=device.person_id, town=device.town, kind=kind, external_id=external_id,
        occurred_at=occurred_at, received_at=now, ack_minutes=minutes, parameter_version_id=params.version_id(ACK_MINUTES),
        ack_deadline=rules.ack_deadline(now, minutes), status="open",
    )
    uow.session.add(alert)
    await uow.session.flush()
    log.info("care.alert.received", alert_id=str(alert.id), kind=kind, town=alert.town)
    return alert, True


async def visible_alert(uow: UnitOfWork, principal: Principal, alert_id: uuid.UUID, *, for_update: bool = False) -> Alert:
    """The alert for staff of its town (a village officer: of its person's village) or its
    assignee; otherwise 404."""
    alert = await uow.session.get(Alert, alert_id, with_for_update=for_update)
    if alert is None:
        raise not_found("alert")
    if alert.assignee is not None and alert.assignee == principal.subject:
        return alert
    if not principal.has_role(*READ_ROLES):
        raise not_found("alert")
    await ensure_record_visible(uow, principal, alert.town, alert.person_id, "alert")
    return alert


def _open(alert: Alert) -> None:
    if alert.closed_at is not None:
        raise Problem(409, "alert_closed", "The alert is closed")


async def assign(*, uow: UnitOfWork, principal: Principal, alert_id: uuid.UUID, assignee: str) -> Alert:
    """Assign the alert to a user (staff of its town). 409 ``alert_closed``."""
    alert = await visible_alert(uow, principal, alert_id, for_update=True)
    if not (principal.has_role(*WRITE_ROLES) and principal.can_see_town(alert.town)):
        raise Problem(403, "forbidden", "Your role may not assign alerts")
    _open(alert)
    alert.assignee, alert.assigned_at = assignee, uow.now()
    if alert.acknowledged_at is None:
        alert.status = "assigned"
    return alert


async def acknowledge(*, uow: UnitOfWork, principal: Principal, alert_id: uuid.UUID) -> Alert:
    """Acknowledge the alert (its assignee or staff of its town); late acknowledgements are
    recorded as such. 409 ``alert_closed``, ``already_acknowledged``."""
    alert = await visible_alert(uow, principal, alert_id, for_update=True)
    _open(alert)
    if alert.acknowledged_at is not None:
        raise Problem(409, "already_acknowledged", "The alert is already acknowledged")
    alert.acknowledged_at, alert.acknowledged_by, alert.status = uow.now(), principal.subject, "acknowledged"
    return alert


async def close(*, uow: UnitOfWork, principal: Principal, alert_id: uuid.UUID, outcome: str, note: str | None) -> Alert:
    """Close the alert with its outcome (its assignee or staff of its town). Closing an
    unacknowledged alert acknowledges it at the same moment. 409 ``alert_closed``."""
    alert = await visible_alert(uow, principal, alert_id, for_update=True)
    _open(alert)
    now = uow.now()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, principal.subject
    alert.closed_at, alert.closed_by, alert.outcome, alert.note, alert.status = now, principal.subject, outcome, note, "closed"
    return alert


async def sweep_escalations(uow: UnitOfWork, *, batch: int) -> int:
    """Claim alerts past their acknowledgement deadline that are neither acknowledged, escalated
    nor closed (FOR UPDATE SKIP LOCKED), set the fired-once marker ``escalated_at`` and stage
    ``care.alert.escalated`` for each (R-LB-3). Returns the number fired (the caller commits)."""
    now = uow.now()
    claimed = (
        select(Alert.id)
        .where(
            Alert.acknowledged_at.is_(None), Alert.escalated_at.is_(None), Alert.closed_at.is_(None),
            Alert.ack_deadline <= now,
        )
        .order_by(Alert.ack_deadline)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .cte("claimed")
    )
    rows = (
        await uow.session.execute(
            update(Alert)
            .where(Alert.id == claimed.c.id, Person.id == Alert.person_id)
            .values(escalated_at=now)
            .returning(
                Alert.id, Alert.device_id, Alert.kind, Alert.occurred_at, Alert.received_at, Alert.ack_deadline,
                Alert.assignee, Alert.person_id, Alert.town, Person.eligibility_person_id, Person.household_id,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    await emit_many(
        uow,
        events.ALERT_ESCALATED,
        [
            (
                str(r.id),
                events.AlertEscalated(
                    care_person_id=str(r.person_id), person_id=r.eligibility_person_id, household_id=r.household_id,
                    town=r.town, alert_id=str(r.id), device_id=str(r.device_id), kind=r.kind, occurred_at=r.occurred_at,
                    received_at=r.received_at, ack_deadline=r.ack_deadline, assignee=r.assignee,
                ),
            )
            for r in rows
        ],
    )
    if rows:
        log.info("care.alert.escalated", count=len(rows))
    return len(rows)


def alert_view(alert: Alert) -> dict[str, Any]:
    """Derived fields of an alert's answer."""
    return {
        "escalated": alert.escalated_at is not None,
        "acknowledged_in_time": (
            None if alert.acknowledged_at is None else rules.acknowledged_in_time(alert.ack_deadline, alert.acknowledged_at)
        ),
    }
