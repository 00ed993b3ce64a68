"""CloudEvents 1.0 envelope (JSON format) of every event the suite publishes.

The NATS subject of an event is its ``type`` (``<service>.<entity>.<verb-past>``, e.g.
``eligibility.benefit.granted``); the JetStream message id (``Nats-Msg-Id``) is its ``id``.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope; ``correlationid`` is the extension tying a chain of work together."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = "1.0"
    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)


def _jsonable(data: Any) -> dict[str, Any]:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    # Round-trip through JSON so Decimal, date and UUID values become their string forms.
    return json.loads(json.dumps(dict(data), default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def new_event(
    event_type: str,
    data: Any,
    *,
    source: str,
    time: datetime,
    subject: str | None = None,
    correlation_id: str | None = None,
) -> CloudEvent:
    """Build an envelope with a fresh UUID id; ``source`` is e.g. ``/services/relief``."""
    if event_type.count(".") < 2:
        raise ValueError("event type must be <service>.<entity>.<verb-past>")
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=source,
        type=event_type,
        time=time,
        subject=subject,
        correlationid=correlation_id,
        data=_jsonable(data),
    )
