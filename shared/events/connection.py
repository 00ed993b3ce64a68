"""A NATS connection that never gives up.

nats-py stops reconnecting after 60 attempts (about two minutes) by default and then closes the
client for good; a service must instead ride out any outage. With ``allow_reconnect`` and
``max_reconnect_attempts=-1`` nats-py 2.16 also retries the *initial* connect forever (it has no
separate ``retry_on_failed_connect`` flag), so :func:`connect_nats` returns only once connected:
callers that must not block (a service starting while NATS is down) run it in a task.
"""

from __future__ import annotations

from typing import Any

import nats
import structlog
from nats.aio.client import Client

log = structlog.get_logger("shared.events.connection")


async def connect_nats(
    url: str,
    *,
    name: str,
    reconnect_time_wait: float = 1.0,
    connect_timeout: float = 2.0,
    ping_interval: float = 10.0,
    **options: Any,
) -> Client:
    """Connect to NATS at ``url`` (comma-separated for a cluster) as client ``name``.

    Reconnects forever, ``reconnect_time_wait`` seconds apart; ``ping_interval`` (with two
    outstanding pings allowed) bounds how long a silently dead server goes unnoticed.
    Disconnects, reconnects, errors and close are logged as ``events.nats.*``. Extra
    ``options`` go to ``nats.connect``. Blocks until connected; cancel the caller to give up.
    """

    # While the server is away every reconnect attempt fails the same way: log the first failure
    # of a kind and then every 30th, not one line a second for the whole outage.
    last_error = {"kind": "", "repeats": 0}

    async def on_error(exc: Exception) -> None:
        kind = f"{type(exc).__name__}: {exc}"
        last_error["repeats"] = last_error["repeats"] + 1 if kind == last_error["kind"] else 1
        last_error["kind"] = kind
        if last_error["repeats"] % 30 == 1:
            # The message of a connection error names hosts and ports, never personal data.
            log.warning("events.nats.error", client=name, error_type=type(exc).__name__,
                        error=str(exc), repeats=last_error["repeats"])

    client: list[Client] = []  # filled once connected; the callbacks need it

    async def on_disconnected() -> None:
        if client and client[0].is_closed:
            return  # our own close(), reported by on_closed
        log.warning("events.nats.disconnected", client=name)

    async def on_reconnected() -> None:
        last_error["kind"] = ""
        log.info("events.nats.reconnected", client=name)

    async def on_closed() -> None:
        log.info("events.nats.closed", client=name)

    servers = [part.strip() for part in url.split(",") if part.strip()]
    nc = await nats.connect(
        servers=servers,
        name=name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=reconnect_time_wait,
        connect_timeout=connect_timeout,
        ping_interval=ping_interval,
        max_outstanding_pings=2,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        closed_cb=on_closed,
        **options,
    )
    client.append(nc)
    log.info("events.nats.connected", client=name)
    return nc
