"""Settings of the suite's processes (pydantic-settings).

Each service subclasses :class:`ServiceSettings` with ``env_prefix`` set to its own name, so the
eligibility service reads ``ELIGIBILITY_DATABASE_URL``, ``ELIGIBILITY_NATS_URL`` and so on. The
launcher (``deploy/suite.py``) composes these variables for every process it starts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["production", "demo", "test"]


class ServiceSettings(BaseSettings):
    """What every service process needs; subclasses set ``model_config = service_config("name")``."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    nats_url: str = "nats://127.0.0.1:4222"
    # The gateway publishes its signing keys here; services verify tokens with them.
    jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    # Where a service in demo/test mode asks for the shared clock at start-up.
    gateway_url: str = "http://127.0.0.1:8000"
    token_issuer: str = "quangang-gateway"
    token_audience: str = "quangang-social-assistance"
    # demo/test modes enable the controllable clock; production refuses it.
    mode: Mode = "production"
    host: str = "127.0.0.1"
    port: int = 8100
    log_level: str = "INFO"
    db_pool_size: int = 10
    # Event consumption: a poison message goes to the dead letters after this many deliveries.
    max_deliver: int = 5
    ack_wait_seconds: float = 30.0
    relay_interval_seconds: float = 0.2
    # Published outbox rows are deleted this long after publication (0: kept forever).
    outbox_retention_hours: float = 24.0
    # JetStream replicas of the service's stream: 1 on one machine, 3 on the production cluster.
    stream_replicas: int = 1
    # HMAC key of the list cursors (shared.pagination); every process of a suite needs the same one.
    # Unset: a random key per process (cursors then work only against the process that issued them).
    cursor_secret: SecretStr | None = None


def service_config(name: str) -> SettingsConfigDict:
    """The pydantic-settings config of service ``name``: env prefix ``NAME_``."""
    return SettingsConfigDict(env_prefix=f"{name.upper()}_", extra="ignore")
