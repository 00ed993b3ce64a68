"""The gateway's FastAPI app (``uvicorn --factory gateway.app:create_app``).

Built with :func:`shared.app.create_service_app` like every service (problem+json, logging, body
guard, metrics, ``/healthz`` ``/readyz`` ``/metrics``, an event bus for its outbox), plus: the
OAuth2 token endpoint and JWKS, user/client/key administration, the shared clock, the working-day
calendar, the merged OpenAPI and, last of all routes, the catch-all proxy to the five services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from gateway import calendar_router, clock_router, openapi_merge
from gateway.auth import passwords
from gateway.auth.keys import KeyRing
from gateway.auth.revocation import Revocations, RevokingVerifier
from gateway.auth.router import admin_router, oauth_router
from gateway.auth.tokens import TokenIssuer
from gateway.config import Settings
from gateway.dashboard.router import router as dashboard_router
from gateway.proxy import METHODS, Forwarder, ProxyFastPath, ProxyMetrics, proxy_endpoint
from gateway.ratelimit import LoginFailures, TokenBucketLimiter
from gateway.reports.handlers import make_handlers as reports_handlers
from gateway.reports.router import router as reports_router
from gateway.upstreams import close_upstreams, make_upstreams
from shared.app import ServiceSpec, create_service_app

# FastAPI's own document routes; the gateway serves the merged document and its own page instead.
_FASTAPI_DOC_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
_OWN_DOC_ENDPOINTS = {openapi_merge.openapi_json, openapi_merge.docs}


def _replace_doc_routes(app: FastAPI) -> None:
    def keep(route: BaseRoute) -> bool:
        path = getattr(route, "path", None)
        return path not in _FASTAPI_DOC_PATHS or getattr(route, "endpoint", None) in _OWN_DOC_ENDPOINTS

    app.router.routes[:] = [r for r in app.router.routes if keep(r)]


def _setup(app: FastAPI) -> None:
    """Gateway state and routes on top of the service app (runs once, at build time)."""
    settings: Settings = app.state.settings
    # httpx logs every request URL at INFO: query strings may carry names.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _replace_doc_routes(app)
    passwords.configure(time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    keyring = KeyRing(lambda: app.state.sessionmaker(), token_lifetime=lifetime)
    app.state.keyring = keyring
    app.state.token_issuer = TokenIssuer(
        keyring, issuer=settings.token_issuer, audience=settings.token_audience, lifetime=lifetime
    )
    # Verify with our own keys in-process (never over HTTP to ourselves); the key ring caches them
    # and reloads them from the database, so the verifier may ask it on every unknown kid.
    # It also refuses the tokens of deactivated accounts (gateway.auth.revocation).
    verifier = RevokingVerifier(
        issuer=settings.token_issuer, audience=settings.token_audience,
        local_keys=keyring.verifier_keys, refresh_interval=0.0,
    )
    revocations = Revocations(
        lambda: app.state.sessionmaker(), lifetime=lifetime, refresh_seconds=settings.revocation_refresh_seconds
    )
    verifier.revocations = revocations
    app.state.token_verifier = verifier
    app.state.revocations = revocations
    app.state.rate_limiter = TokenBucketLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.login_failures = LoginFailures(settings.login_failure_limit, settings.login_failure_window_seconds)
    app.state.merged_openapi = openapi_merge.MergedOpenAPI(settings.openapi_cache_seconds)
    metrics = ProxyMetrics(app.state.metrics_registry)
    app.state.upstreams = {}
    app.state.forwarder = Forwarder({}, metrics)
    # The catch-all comes after every route of the gateway's own; the fast path (innermost
    # middleware) answers known upstreams the same way without matching every route first.
    app.user_middleware.append(Middleware(ProxyFastPath))
    app.add_route("/api/v1/{service}", proxy_endpoint, methods=METHODS, include_in_schema=False)
    app.add_route("/api/v1/{service}/{path:path}", proxy_endpoint, methods=METHODS, include_in_schema=False)

    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app):
            # Pools are made here, inside the server's event loop, and closed with it.
            app.state.upstreams = make_upstreams(settings)
            app.state.forwarder.upstreams = app.state.upstreams
            await clock_router.restore_clock(app)
            await keyring.signing_key()  # the first start creates the first key
            await revocations.load()  # before the first request: no revoked token slips through
            refresher = asyncio.create_task(revocations.run())
            try:
                yield
            finally:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
                await close_upstreams(app.state.upstreams)

    app.router.lifespan_context = lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    """App factory of the gateway."""
    settings = settings or Settings()
    return create_service_app(
        ServiceSpec(
            name="gateway",
            settings=settings,
            routers=[
                oauth_router, admin_router, clock_router.router, calendar_router.router, openapi_merge.router,
                dashboard_router, reports_router,
            ],
            handlers=reports_handlers() if settings.chain_projection else None,
            description="The one public entry of the suite: sign-in, routing, rate limits, docs, clock, calendar.",
            extra_setup=_setup,
            tags=[
                {"name": "auth", "description": "OAuth2 tokens (password, client credentials) and signing keys"},
                {"name": "admin", "description": "Users, system clients and key rotation (district_admin)"},
                {"name": "clock", "description": "The suite's clock in demo and test mode"},
                {"name": "calendar", "description": "Working days with 调休 and the R-TR-2 deadline"},
                {"name": "reports", "description": "KPI report (JSON/CSV) and the household assistance chain"},
            ],
        )
    )
