"""The app factory every service (and the gateway) is built with, so all have the same shape.

``create_service_app(spec)`` gives a FastAPI app with: problem+json errors, request/correlation
ids in every log line, a body guard, Prometheus metrics, ``/healthz`` ``/readyz`` ``/metrics``,
the internal clock endpoints (demo/test mode only), the dead-letter list under
``/api/v1/<name>/dead-letters``, and a lifespan that opens the database engine, the event bus
(outbox relay + consumers) and the service's own background workers, and closes them all. A
router may declare ASGI fast paths for hot endpoints (``shared.http.fast_path``); they are
installed innermost, after the request context and the body guard.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import httpx
import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import AwareDatetime, BaseModel, BeforeValidator, StrictBool, StrictInt
from pydantic_core import PydanticCustomError
from sqlalchemy import func, select, text
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import DISTRICT_ADMIN, AUDITOR, Principal, TokenVerifier, require_roles
from shared.calendar_store import YEAR_LOADED, CalendarYear, store_year
from shared.clock import Clock, ControllableClock, SystemClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.errors import Problem, install_problem_handlers
from shared.events.consumer import EventHandlers
from shared.events.envelope import CloudEvent
from shared.events.models import DeadLetter
from shared.http import BodyGuardMiddleware, FastPathMiddleware, RequestContextMiddleware
from shared.logging import configure_logging
from shared.pagination import Page, PageParams, configure_cursor_secret, make_page, page_params
from shared.query import refuse_unknown_query
from shared.settings import ServiceSettings

log = structlog.get_logger("shared.app")

Worker = Callable[[FastAPI], Awaitable[None]]
CalendarHook = Callable[[int, UnitOfWork], Awaitable[None]]


@dataclass
class ServiceSpec:
    """What makes one service: its name, settings, routers, event handlers and workers."""

    name: str
    settings: ServiceSettings
    routers: Sequence[APIRouter] = ()
    handlers: EventHandlers | None = None
    # Background loops (timers, sweeps); each is restarted with back-off if it fails.
    workers: Sequence[Worker] = ()
    # Called in the handler's transaction when an administrator loads a calendar year.
    on_calendar_loaded: CalendarHook | None = None
    description: str = ""
    version: str = "1.0.0"
    extra_setup: Callable[[FastAPI], None] | None = None
    clock: Clock | None = None  # tests may inject one
    tags: list[dict[str, Any]] = field(default_factory=list)


async def get_uow(request: Request) -> UnitOfWork:
    """FastAPI dependency: a fresh unit of work for this request (enter it with ``async with``)."""
    return request.app.state.uow_factory(getattr(request.state, "correlation_id", None))


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


def _make_clock(spec: ServiceSpec) -> Clock:
    if spec.clock is not None:
        return spec.clock
    if spec.settings.mode in ("demo", "test"):
        return ControllableClock()
    return SystemClock()


async def _supervise(app: FastAPI, name: str, worker: Worker) -> None:
    """Run ``worker`` forever: a failure is logged and the worker restarted after a back-off."""
    delay = 0.5
    while True:
        try:
            await worker(app)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("service.worker.failed", worker=name)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def _adopt_shared_clock(app: FastAPI, client: httpx.AsyncClient | None = None) -> bool:
    """In demo/test mode, take the gateway's current clock setting; False if it did not answer."""
    settings: ServiceSettings = app.state.settings
    clock = app.state.clock
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=2.0) as own:
                response = await own.get(f"{settings.gateway_url}/api/v1/admin/clock")
        else:
            response = await client.get(f"{settings.gateway_url}/api/v1/admin/clock")
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    state = response.json()
    if state.get("revision", 0) > clock.revision:
        clock.set(datetime.fromisoformat(state["now"]), running=state["running"], revision=state["revision"])
    return True


async def _follow_shared_clock(app: FastAPI, interval: float = 2.0) -> None:
    """Keep adopting the gateway's clock: a replica the gateway does not push to stays in step.

    One client for the whole loop: a new httpx client loads the TLS trust store each time
    (milliseconds of CPU every ``interval``)."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            await asyncio.sleep(interval)
            await _adopt_shared_clock(app, client)


class KeepConnectionOnError:
    """Outermost ASGI wrapper: after an unhandled exception whose 500 has already been sent, end
    the request normally instead of re-raising.

    Starlette's ServerErrorMiddleware sends the 500 (shared.errors' handler, which logs the
    exception with its traceback) and then re-raises; uvicorn would log it a second time and close
    the keep-alive connection, and the gateway's pool could send the next request on that dead
    connection (502). If nothing was sent yet the exception propagates as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            if not started:
                raise
            # Already logged once, with its traceback, by shared.errors' 500 handler.


def _keep_connection_on_error(app: FastAPI) -> None:
    """Put :class:`KeepConnectionOnError` outside ServerErrorMiddleware (built lazily by Starlette)."""
    build = app.build_middleware_stack

    def build_wrapped() -> ASGIApp:
        return KeepConnectionOnError(build())

    app.build_middleware_stack = build_wrapped  # type: ignore[method-assign]


def _text_instant(value: Any) -> Any:
    # JSON has no time type: pydantic would read a number as seconds since 1970.
    if not isinstance(value, str):
        raise PydanticCustomError("iso_datetime", "an ISO 8601 date and time with an offset")
    return value


class ClockSetting(BaseModel):
    """The gateway's push (``PUT /internal/clock``). Strict: a number is no time, "yes" no boolean."""

    now: Annotated[AwareDatetime, BeforeValidator(_text_instant)]
    running: StrictBool = False
    revision: StrictInt


class DeadLetterOut(BaseModel):
    id: int
    consumer: str
    subject: str
    event_id: str | None
    error: str
    deliveries: int
    created_at: datetime


def _infra_router(name: str) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": name}

    @router.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the database answers and the event bus is connected."""
        checks: dict[str, str] = {}
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["database"] = f"error: {type(exc).__name__}"
        bus = request.app.state.bus
        checks["nats"] = "ok" if bus is not None and bus.ready else "disconnected"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/internal/clock", include_in_schema=False)
    async def read_clock(request: Request) -> dict[str, Any]:
        clock = request.app.state.clock
        if isinstance(clock, ControllableClock):
            return clock.state()
        return {"now": clock.now().isoformat(), "running": True, "revision": 0}

    @router.put("/internal/clock", include_in_schema=False)
    async def set_clock(
        request: Request, setting: ClockSetting, _: Principal = Depends(require_roles(DISTRICT_ADMIN))
    ) -> dict[str, Any]:
        """Adopt the gateway's clock setting; refused (403) unless the suite runs in demo/test mode."""
        clock = request.app.state.clock
        if not isinstance(clock, ControllableClock):
            raise Problem(403, "clock_not_controllable", "The clock can only be set in demo or test mode")
        if setting.revision >= clock.revision:
            clock.set(setting.now, running=setting.running, revision=setting.revision)
        return clock.state()

    @router.get(f"/api/v1/{name}/dead-letters", tags=["operations"], response_model=Page[DeadLetterOut])
    async def list_dead_letters(
        request: Request,
        page: PageParams = Depends(page_params),
        _: Principal = Depends(require_roles(DISTRICT_ADMIN, AUDITOR)),
    ) -> Page[DeadLetterOut]:
        """Events that failed ``max_deliver`` times (newest first), for an administrator to act on."""
        async with request.app.state.sessionmaker() as session:
            query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(page.limit + 1)
            if page.after:
                query = query.where(DeadLetter.id < int(page.after[0]))
            rows = [DeadLetterOut.model_validate(r, from_attributes=True) for r in (await session.scalars(query)).all()]
        return make_page(rows, page.limit, key=lambda r: [r.id])

    @router.get(f"/api/v1/{name}/calendar-years", tags=["operations"])
    async def list_calendar_years(
        request: Request, _: Principal = Depends(require_roles(DISTRICT_ADMIN, AUDITOR))
    ) -> dict[str, list[dict[str, Any]]]:
        """The working-day arrangements this service has received from the gateway (by year)."""
        async with request.app.state.sessionmaker() as session:
            rows = (await session.scalars(select(CalendarYear).order_by(CalendarYear.year))).all()
        return {
            "items": [
                {"year": r.year, "holidays": r.holidays, "workdays": r.workdays, "loaded_at": r.loaded_at.isoformat()}
                for r in rows
            ]
        }

    @router.get(f"/api/v1/{name}/dead-letters:count", include_in_schema=False)
    async def count_dead_letters(request: Request, _: Principal = Depends(require_roles(DISTRICT_ADMIN))) -> dict[str, int]:
        async with request.app.state.sessionmaker() as session:
            return {"count": int(await session.scalar(select(func.count()).select_from(DeadLetter)) or 0)}

    return router


def create_service_app(spec: ServiceSpec) -> FastAPI:
    """Build the FastAPI app of one service from its spec (see module docstring)."""
    settings = spec.settings
    configure_logging(spec.name, settings.log_level)
    configure_cursor_secret(settings.cursor_secret.get_secret_value() if settings.cursor_secret else None)
    if settings.cursor_secret is None and settings.mode == "production":
        log.warning("service.cursor_secret.unset", detail="cursors are valid only against this process")
    handlers = spec.handlers or EventHandlers()

    @handlers.on(YEAR_LOADED)
    async def _calendar_year_loaded(event: CloudEvent, *, uow: UnitOfWork) -> None:
        data = event.data
        await store_year(uow.session, int(data["year"]), list(data["holidays"]), list(data["workdays"]))
        if spec.on_calendar_loaded is not None:
            await spec.on_calendar_loaded(int(data["year"]), uow)
        log.info("calendar.year.stored", year=data["year"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from shared.events.bus import EventBus

        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        sessionmaker = make_sessionmaker(engine)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker
        bus = EventBus(
            service=spec.name,
            nats_url=settings.nats_url,
            session_factory=sessionmaker,
            handlers=handlers,
            max_deliver=settings.max_deliver,
            ack_wait=settings.ack_wait_seconds,
            relay_interval=settings.relay_interval_seconds,
            outbox_retention=settings.outbox_retention_hours * 3600 or None,
            clock=app.state.clock,
            stream_replicas=settings.stream_replicas,
        )
        app.state.bus = bus
        # Request handlers, event handlers and workers all get their units of work here.
        app.state.uow_factory = bus.unit_of_work
        tasks: list[asyncio.Task[None]] = []
        if isinstance(app.state.clock, ControllableClock) and spec.name != "gateway":
            # Workers must not act on wall-clock time before the shared clock is adopted.
            for _ in range(50):
                if await _adopt_shared_clock(app):
                    break
                await asyncio.sleep(0.2)
            else:
                log.warning("service.clock.not_adopted", gateway=settings.gateway_url)
            tasks.append(asyncio.create_task(_follow_shared_clock(app)))
        await bus.start()
        for worker in spec.workers:
            tasks.append(asyncio.create_task(_supervise(app, worker.__name__, worker)))
        # Everything allocated so far (modules, the app, its routes and schemas) lives as long as
        # the process: out of the collector's sight, a full collection no longer walks it.
        gc.collect()
        gc.freeze()
        log.info("service.started", port=settings.port, mode=settings.mode)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await bus.stop()
            await engine.dispose()
            log.info("service.stopped")

    app = FastAPI(
        title=f"{spec.name} service",
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
        openapi_tags=spec.tags or None,
        # The suite's observability is its Prometheus metrics and JSON logs; FastAPI's native
        # OpenTelemetry hooks, on by default, would look up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Every route refuses query parameters it does not declare (422 unknown_parameter).
        dependencies=[Depends(refuse_unknown_query)],
    )
    app.state.settings = settings
    app.state.service_name = spec.name
    app.state.clock = _make_clock(spec)
    app.state.bus = None
    app.state.token_verifier = TokenVerifier(
        issuer=settings.token_issuer, audience=settings.token_audience, jwks_url=settings.jwks_url
    )
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    install_problem_handlers(app)
    _keep_connection_on_error(app)
    # A router may give the body guard's refusals on its paths its own shape (``guard_answers``:
    # path -> function of the Problem, see BodyGuardMiddleware), as the OAuth token endpoint does.
    guard_answers: dict[str, Any] = {}
    for router in spec.routers:
        guard_answers.update(getattr(router, "guard_answers", None) or {})
    app.add_middleware(BodyGuardMiddleware, answers=guard_answers)
    app.add_middleware(RequestContextMiddleware, service=spec.name, registry=registry)
    app.include_router(_infra_router(spec.name))
    fast_paths: dict[tuple[str, str], Any] = {}
    for router in spec.routers:
        app.include_router(router)
        fast_paths.update(getattr(router, "fast_paths", None) or {})
    if fast_paths:  # innermost: after the request context and the body guard
        app.user_middleware.append(Middleware(FastPathMiddleware, paths=fast_paths))
    if spec.extra_setup is not None:
        spec.extra_setup(app)
    return app
