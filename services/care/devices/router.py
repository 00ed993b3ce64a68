"""Device and alert endpoints (R-LB-3): devices, intake from the device platform, handling."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select, tuple_

from services.care.common import READ_ROLES, VISITOR_ROLES, WRITE_ROLES, cursor_key, parse_uuid, scope_clauses
from services.care.devices.models import Alert, Device
from services.care.devices.schemas import AlertIn, AlertOut, AssignIn, CloseIn, DeviceIn, DeviceOut, RemoveDeviceIn
from services.care.devices.service import (
    acknowledge,
    alert_view,
    assign,
    close,
    receive_alert,
    register_device,
    remove_device,
    visible_alert,
)
from services.care.persons.service import village_of
from shared.app import get_uow
from shared.auth import Principal, require_roles, require_scopes
from shared.db import UnitOfWork
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/care", tags=["devices"])

DEVICE_PLATFORM = "device_platform"


def _alert_out(alert: Alert) -> AlertOut:
    out = AlertOut.model_validate(alert)
    for key, value in alert_view(alert).items():
        setattr(out, key, value)
    return out


@router.post("/devices", response_model=DeviceOut, status_code=201)
async def post_device(
    body: DeviceIn, uow: UnitOfWork = Depends(get_uow), principal: Principal = Depends(require_roles(*WRITE_ROLES))
) -> DeviceOut:
    """Register a monitoring device (云守护) installed for a person. 409 ``device_exists``,
    ``person_deceased``; 422 ``future_date``."""
    async with uow:
        device = await register_device(
            uow=uow, principal=principal, serial=body.serial, kind=body.kind, person_id=body.person_id,
            installed_on=body.installed_on,
        )
        out = DeviceOut.model_validate(device)
        await uow.commit()
    return out


@router.get("/devices", response_model=Page[DeviceOut])
async def get_devices(
    town: str | None = Query(None),
    person_id: uuid.UUID | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[DeviceOut]:
    """Devices by id (a town sees its own, a village officer its village's persons'; a device
    carries no village: its person's). 404 another town (town staff); 422 ``invalid_cursor``."""
    async with uow:
        query = select(Device).order_by(Device.id).limit(page.limit + 1)
        query = query.where(*scope_clauses(principal, town, Device.town, village_of(Device.person_id)))
        if person_id is not None:
            query = query.where(Device.person_id == person_id)
        key = cursor_key(page.after, uuid.UUID)
        if key is not None:
            query = query.where(Device.id > key[0])
        rows = [DeviceOut.model_validate(d) for d in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda d: [str(d.id)])


@router.post("/devices/{device_id}:remove", response_model=DeviceOut)
async def post_remove(
    device_id: str,
    body: RemoveDeviceIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> DeviceOut:
    async with uow:
        device = await remove_device(uow=uow, principal=principal, device_id=parse_uuid(device_id, "device"), removed_on=body.removed_on)
        out = DeviceOut.model_validate(device)
        await uow.commit()
    return out


@router.post("/alerts", response_model=AlertOut, status_code=201)
async def post_alert(
    body: AlertIn,
    response: Response,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_scopes(DEVICE_PLATFORM)),
):
    """Alert intake from the device platform (a system client with scope ``device_platform``):
    SOS, fall or inactivity of a registered device (R-LB-3). The alert must be acknowledged
    within ``alert_ack_minutes`` (30) of receipt or it escalates (``care.alert.escalated``).
    201 new; 200 for a repeat of the same ``external_id``. Accepts ``Idempotency-Key``.
    422 ``unknown_device``, ``future_time``; nothing is stored for a refused alert."""
    idem = Idempotency(idempotency_key, scope=f"{principal.subject}:POST:alerts", payload=body.model_dump(mode="json"))
    async with uow:
        replayed = await idem.replay(uow.session)
        if replayed is not None:
            return JSONResponse(replayed[1], status_code=replayed[0])
        alert, created = await receive_alert(
            uow=uow, serial=body.device_serial, kind=body.kind, occurred_at=body.occurred_at, external_id=body.external_id
        )
        out = _alert_out(alert)
        status = 201 if created else 200
        idem.record(uow.session, status, out.model_dump(mode="json"))
        await uow.commit()
    response.status_code = status
    return out


@router.get("/alerts", response_model=Page[AlertOut])
async def get_alerts(
    town: str | None = Query(None),
    status: Literal["open", "assigned", "acknowledged", "closed"] | None = Query(None),
    escalated: bool | None = Query(None),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES)),
) -> Page[AlertOut]:
    """Alerts, newest first (a town sees its own, a village officer its village's persons'; an
    alert carries no village: its person's). 404 another town (town staff); 422
    ``invalid_cursor``."""
    async with uow:
        query = select(Alert).order_by(Alert.received_at.desc(), Alert.id.desc()).limit(page.limit + 1)
        query = query.where(*scope_clauses(principal, town, Alert.town, village_of(Alert.person_id)))
        if status is not None:
            query = query.where(Alert.status == status)
        if escalated is not None:
            query = query.where(Alert.escalated_at.is_not(None) if escalated else Alert.escalated_at.is_(None))
        key = cursor_key(page.after, datetime.fromisoformat, uuid.UUID)
        if key is not None:
            query = query.where(tuple_(Alert.received_at, Alert.id) < tuple_(*key))
        rows = [_alert_out(a) for a in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda a: [a.received_at.isoformat(), str(a.id)])


@router.get("/my/alerts", response_model=Page[AlertOut])
async def my_alerts(
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*VISITOR_ROLES, *WRITE_ROLES)),
) -> Page[AlertOut]:
    """The open alerts assigned to the caller, by acknowledgement deadline (mobile app)."""
    async with uow:
        query = (
            select(Alert)
            .where(Alert.assignee == principal.subject, Alert.closed_at.is_(None))
            .order_by(Alert.ack_deadline, Alert.id)
            .limit(page.limit + 1)
        )
        key = cursor_key(page.after, datetime.fromisoformat, uuid.UUID)
        if key is not None:
            query = query.where(tuple_(Alert.ack_deadline, Alert.id) > tuple_(*key))
        rows = [_alert_out(a) for a in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda a: [a.ack_deadline.isoformat(), str(a.id)])


@router.get("/alerts/{alert_id}", response_model=AlertOut)
async def get_alert(
    alert_id: str,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READ_ROLES, *VISITOR_ROLES)),
) -> AlertOut:
    """An alert: to staff of its town (a village officer: of its person's village) or to its
    assignee; else 404."""
    async with uow:
        return _alert_out(await visible_alert(uow, principal, parse_uuid(alert_id, "alert")))


@router.post("/alerts/{alert_id}:assign", response_model=AlertOut)
async def post_assign(
    alert_id: str,
    body: AssignIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> AlertOut:
    """Assign the alert to a user (``assignee`` = their token sub). 409 ``alert_closed``."""
    async with uow:
        alert = await assign(uow=uow, principal=principal, alert_id=parse_uuid(alert_id, "alert"), assignee=body.assignee)
        out = _alert_out(alert)
        await uow.commit()
    return out


@router.post("/alerts/{alert_id}:acknowledge", response_model=AlertOut)
async def post_acknowledge(
    alert_id: str,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES, *VISITOR_ROLES)),
) -> AlertOut:
    """Acknowledge the alert (its assignee or staff of its town); ``acknowledged_in_time`` tells
    whether it was within ``alert_ack_minutes``. 409 ``alert_closed``, ``already_acknowledged``."""
    async with uow:
        alert = await acknowledge(uow=uow, principal=principal, alert_id=parse_uuid(alert_id, "alert"))
        out = _alert_out(alert)
        await uow.commit()
    return out


@router.post("/alerts/{alert_id}:close", response_model=AlertOut)
async def post_close(
    alert_id: str,
    body: CloseIn,
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*WRITE_ROLES, *VISITOR_ROLES)),
) -> AlertOut:
    """Close the alert with its outcome. 409 ``alert_closed``."""
    async with uow:
        alert = await close(uow=uow, principal=principal, alert_id=parse_uuid(alert_id, "alert"), outcome=body.outcome, note=body.note)
        out = _alert_out(alert)
        await uow.commit()
    return out
