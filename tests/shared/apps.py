"""The suite's apps built in this test process, unstarted (no lifespan: no database, no NATS).

A service's event handlers are module-level, so its app can be built only once per process:
the wiring tests (tests/shared/test_*_wiring.py) share these."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any


@cache
def service_app(name: str) -> Any:
    """The app of service ``name`` (eligibility, relief, subsidy, care, wishes) with its defaults."""
    return importlib.import_module(f"services.{name}.app").create_app()


def gateway_app() -> Any:
    """A new gateway app pointing at no database and no NATS (it may be built many times)."""
    from gateway.app import create_app
    from gateway.config import Settings

    return create_app(Settings(database_url="postgresql://nobody@127.0.0.1:9/none", nats_url="nats://127.0.0.1:9"))
