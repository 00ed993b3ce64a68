"""The suite's shared clock in demo and test mode: ``GET``/``PUT /api/v1/admin/clock``.

A setting gets the next revision, is stored in the gateway's database (a restarted gateway keeps
it; a running clock has advanced meanwhile) and pushed to every upstream's
``PUT /internal/clock`` ``{now, running, revision}`` with a short-lived district_admin token the
gateway mints for itself. The PUT answers once every upstream has acknowledged or failed:
``acknowledged`` lists the first, ``unacknowledged`` maps the others to why (``timeout``,
``unreachable``, ``status 403`` …); a service that was down adopts the setting when it starts
(it asks ``GET /api/v1/admin/clock``). In production the PUT is refused: 403
``clock_not_controllable``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, StrictBool
from pydantic_core import PydanticCustomError
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert

from gateway.auth.tokens import TokenIssuer
from gateway.models import ClockSetting
from gateway.ratelimit import enforce_rate_limit
from gateway.upstreams import Upstream, is_timeout
from shared.auth import DISTRICT_ADMIN, Principal, require_roles
from shared.calendar import TZ
from shared.clock import ControllableClock
from shared.errors import Problem

log = structlog.get_logger("gateway.clock")
router = APIRouter(prefix="/api/v1/admin", tags=["clock"], dependencies=[Depends(enforce_rate_limit)])


# The clock may be set from 2000-01-01 to 2099-12-31 (Asia/Shanghai). The demo replays 2019–2020
# and the tests set years up to the 2030s; earlier or later is a typo (a number of seconds, a
# year 1 or 9999), and every service would take it as "today": its working-day arithmetic would
# overflow near the ends of the calendar, Asia/Shanghai shows its local mean time (+08:05) before
# 1901, and the services refuse business dates after 2099 (shared.timestamps), so "today" must stay
# within that.
CLOCK_EARLIEST = datetime(2000, 1, 1, tzinfo=TZ)
CLOCK_END = datetime(2100, 1, 1, tzinfo=TZ)
# An RFC 3339 / ISO 8601 date and time with an offset; pydantic alone would also take "12345" as
# seconds since 1970.
_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})")


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str) or not _ISO_INSTANT.fullmatch(value):
        raise PydanticCustomError("iso_datetime", "an ISO 8601 date and time with an offset, e.g. 2020-05-09T10:00:00+08:00")
    return value


def _clock_range(value: datetime) -> datetime:
    if not CLOCK_EARLIEST <= value < CLOCK_END:
        raise PydanticCustomError("out_of_range", "the clock can be set from 2000-01-01 to 2099-12-31 (Asia/Shanghai)")
    return value


class ClockIn(BaseModel):
    """``now``: an ISO 8601 string with an offset, 2000-01-01 .. 2099-12-31 Asia/Shanghai (422
    ``iso_datetime`` / ``timezone_aware`` / ``out_of_range``); ``running``: a JSON boolean (422
    ``bool_type``)."""

    model_config = ConfigDict(extra="forbid")

    now: Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_clock_range)]
    running: StrictBool = False


class ClockOut(BaseModel):
    """``now`` exactly as every service's ``GET /internal/clock`` shows it (RFC 3339, UTC), so the
    two can be compared as strings."""

    now: str
    running: bool
    revision: int


class ClockSetResult(ClockOut):
    acknowledged: list[str]
    unacknowledged: dict[str, str]


def _adopt(clock: ControllableClock, row: ClockSetting) -> None:
    anchor = row.anchor
    if row.running:  # it kept running while nobody looked
        anchor = anchor + (datetime.now(UTC) - row.set_at)
    clock.set(anchor, running=row.running, revision=row.revision)


async def restore_clock(app: FastAPI) -> None:
    """At start-up: adopt the stored setting (demo/test mode only)."""
    clock = app.state.clock
    if not isinstance(clock, ControllableClock):
        return
    async with app.state.sessionmaker() as session:
        row = await session.get(ClockSetting, 1)
    if row is not None and row.revision > clock.revision:
        _adopt(clock, row)
        log.info("gateway.clock.restored", revision=row.revision, running=row.running)


@router.get("/clock", response_model=ClockOut)
async def read_clock(request: Request) -> ClockOut:
    """The current setting (no login: services ask it at start-up). In production: the system
    time, running, revision 0."""
    clock = request.app.state.clock
    if not isinstance(clock, ControllableClock):
        return ClockOut(now=clock.now().isoformat(), running=True, revision=0)
    # Another gateway replica may have taken a newer setting.
    async with request.app.state.sessionmaker() as session:
        row = await session.get(ClockSetting, 1)
    if row is not None and row.revision > clock.revision:
        _adopt(clock, row)
    return ClockOut(**clock.state())


async def _push(upstream: Upstream, body: dict[str, Any], token: str, timeout: float) -> str | None:
    """None when ``upstream`` acknowledged, else why not."""
    try:
        response = await upstream.client.put(
            "/internal/clock", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
    except httpx.TransportError as exc:
        return "timeout" if is_timeout(exc) else "unreachable"
    return None if response.is_success else f"status {response.status_code}"


@router.put("/clock", response_model=ClockSetResult)
async def set_clock(
    setting: ClockIn, request: Request, _: Principal = Depends(require_roles(DISTRICT_ADMIN))
) -> ClockSetResult:
    """Set the suite's clock (district_admin; demo/test mode only) and push it to every service.

    422 problem (``validation_failed``) for a ``now`` that is not an ISO 8601 string with an offset
    in 2000 .. 2099, or a ``running`` that is not a boolean; 403 ``clock_not_controllable`` in
    production."""
    app = request.app
    clock = app.state.clock
    if not isinstance(clock, ControllableClock):
        raise Problem(403, "clock_not_controllable", "The clock can only be set in demo or test mode")
    async with app.state.sessionmaker() as session:
        # The next revision comes from the database, so two replicas never hand out the same one.
        statement = insert(ClockSetting).values(
            id=1, anchor=setting.now, running=setting.running, revision=clock.revision + 1, set_at=func.now()
        )
        revision = await session.scalar(
            statement.on_conflict_do_update(
                index_elements=[ClockSetting.id],
                set_={
                    "anchor": statement.excluded.anchor,
                    "running": statement.excluded.running,
                    "set_at": statement.excluded.set_at,
                    "revision": func.greatest(ClockSetting.revision + 1, statement.excluded.revision),
                },
            ).returning(ClockSetting.revision)
        )
        await session.commit()
    clock.set(setting.now, running=setting.running, revision=int(revision))
    issuer: TokenIssuer = app.state.token_issuer
    token = await issuer.issue(
        subject="gateway", typ="client", roles=[DISTRICT_ADMIN], name="gateway", lifetime=timedelta(minutes=1)
    )
    body = {"now": setting.now.isoformat(), "running": setting.running, "revision": clock.revision}
    upstreams: dict[str, Upstream] = app.state.upstreams
    timeout = app.state.settings.clock_push_timeout_seconds
    results = await asyncio.gather(*(_push(u, body, token.access_token, timeout) for u in upstreams.values()))
    failed = {name: why for name, why in zip(upstreams, results, strict=True) if why is not None}
    acknowledged = [name for name in upstreams if name not in failed]
    log.info("gateway.clock.set", revision=clock.revision, running=setting.running, now=body["now"], unacknowledged=sorted(failed))
    return ClockSetResult(**clock.state(), acknowledged=acknowledged, unacknowledged=failed)
