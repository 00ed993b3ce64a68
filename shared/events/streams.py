"""JetStream streams: one per producing service, holding every subject ``<service>.>``.

Producers (the relay) and consumers both call :func:`ensure_stream`, so whichever process starts
first creates the stream and the other finds it; neither depends on start order.
"""

from __future__ import annotations

import re

import structlog
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig, StreamInfo
from nats.js.errors import BadRequestError, NotFoundError

log = structlog.get_logger("shared.events.streams")

_SERVICE = re.compile(r"[a-z][a-z0-9_-]*")
# JetStream error code "stream name already in use with a different configuration".
_STREAM_NAME_IN_USE = 10058


def stream_name(service: str) -> str:
    """The stream of ``service``: ``"eligibility"`` → ``"ELIGIBILITY"``.

    Raises ValueError unless ``service`` is lower-case letters, digits, ``_`` or ``-`` (it is also
    the first token of every subject, so dots and wildcards are refused).
    """
    if not _SERVICE.fullmatch(service):
        raise ValueError(f"invalid service name for a stream: {service!r}")
    return service.upper()


def service_of(event_type: str) -> str:
    """The producing service of an event type: ``"relief.case.opened"`` → ``"relief"``."""
    service, _, rest = event_type.partition(".")
    if not rest:
        raise ValueError(f"event type must be <service>.<entity>.<verb-past>: {event_type!r}")
    return service


async def ensure_stream(
    js: JetStreamContext,
    service: str,
    *,
    duplicate_window_seconds: float = 120,
    replicas: int = 1,
) -> StreamInfo:
    """Create the stream of ``service`` or bring an existing one to the expected configuration.

    Subjects ``<service>.>``, file storage, ``duplicate_window_seconds`` (the window inside which
    a re-publish with the same ``Nats-Msg-Id`` is dropped: it must exceed the relay's retry
    horizon) and ``replicas`` (3 on the production cluster). Idempotent and safe to race with
    another process doing the same. Returns the stream info. Raises ``nats.errors`` on connection
    problems and ``nats.js.errors.APIError`` if the server refuses the configuration.
    """
    name = stream_name(service)
    wanted = {
        "subjects": [f"{service}.>"],
        "storage": StorageType.FILE,
        "duplicate_window": float(duplicate_window_seconds),
        "num_replicas": replicas,
    }
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            info = await js.add_stream(StreamConfig(name=name, **wanted))
            log.info("events.stream.created", stream=name)
            return info
        except BadRequestError as exc:
            # Another replica created it between our lookup and our add: compare with theirs.
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise
            info = await js.stream_info(name)

    config = info.config
    current = {
        "subjects": sorted(config.subjects or []),
        "storage": config.storage,
        "duplicate_window": float(config.duplicate_window or 0),
        "num_replicas": config.num_replicas or 1,
    }
    if current == {**wanted, "subjects": sorted(wanted["subjects"])}:
        return info
    info = await js.update_stream(config.evolve(**wanted))
    log.info("events.stream.updated", stream=name)
    return info
