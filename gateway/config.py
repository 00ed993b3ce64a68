"""Settings of the gateway (env prefix ``GATEWAY_``).

Every field is an environment variable ``GATEWAY_<FIELD>``; ``upstreams`` is JSON
(``GATEWAY_UPSTREAMS='{"relief": "http://10.0.0.5:8102", ...}'``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from shared.settings import ServiceSettings, service_config

SERVICES = ("eligibility", "relief", "subsidy", "care", "wishes")
# /api/v1/<these> are the gateway's own (API.md), so no upstream may take the name.
RESERVED_PREFIXES = ("admin", "calendar", "reports", "gateway")
_UPSTREAM_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def _default_upstreams() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{8101 + i}" for i, name in enumerate(SERVICES)}


class Settings(ServiceSettings):
    model_config = service_config("gateway")

    port: int = 8000
    # Where callers reach the gateway (links in docs; default: http://host:port).
    public_url: str | None = None
    # Service name -> base URL (no trailing slash); requests to /api/v1/<name>/... go there unchanged.
    upstreams: dict[str, str] = Field(default_factory=_default_upstreams)
    # Seconds an upstream may take to start answering (headers) before the caller gets 504.
    upstream_timeout_seconds: float = 30.0
    upstream_connect_timeout_seconds: float = 5.0
    # Connections per upstream (pool size) and how many of them are kept alive when idle.
    upstream_max_connections: int = 200
    upstream_max_keepalive: int = 100
    # Client on the forwarding path (chosen by tests/bench/bench_gateway.py): "h1" (the proxy's
    # own HTTP/1.1 pool, gateway.transport.H1Pool), or httpx on "aiohttp-lean" (gateway.transport),
    # "aiohttp" (httpx_aiohttp) or "httpx" (httpcore).
    proxy_transport: Literal["h1", "aiohttp-lean", "aiohttp", "httpx"] = "h1"
    # Lifetime of issued access tokens; also how long a rotated-out key stays published.
    access_token_minutes: int = 60
    # Token bucket per principal (or client IP when anonymous): refill rate and bucket size.
    rate_limit_per_minute: int = 1200
    rate_limit_burst: int = 200
    # Failed password sign-ins a username may have within the window before it gets 429 (per replica).
    login_failure_limit: int = 10
    login_failure_window_seconds: float = 900.0
    # Seconds between reloads of the deactivated accounts (how soon other replicas refuse their tokens).
    revocation_refresh_seconds: float = 5.0
    # argon2id cost of new password/secret hashes (OWASP minimum by default).
    password_hash_time_cost: int = 2
    password_hash_memory_kib: int = 19456
    # How long the merged OpenAPI document is cached (seconds).
    openapi_cache_seconds: float = 30.0
    # Seconds each upstream has to acknowledge a clock setting before it is reported as not reached.
    clock_push_timeout_seconds: float = 5.0
    # Seconds each service has to answer the KPI report's request before it counts as unavailable.
    report_source_timeout_seconds: float = 10.0
    # Project the five services' events into the household assistance chain (durable consumers
    # named "gateway"); off only for a stand-in gateway sharing NATS with a real one (tests).
    chain_projection: bool = True

    @field_validator("upstreams")
    @classmethod
    def _check_upstreams(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not _UPSTREAM_NAME.fullmatch(name) or name in RESERVED_PREFIXES:
                raise ValueError(f"upstream name {name!r} is not a plain lower-case name or is one of {RESERVED_PREFIXES}")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"upstream {name!r} needs an http(s) URL")
        return {name: url.rstrip("/") for name, url in value.items()}

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
