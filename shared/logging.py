"""Structured JSON logging (structlog) with personal data masked in every line.

Event names are dotted (``relief.case.approved``). A request's id and correlation id are bound
to every line logged while it is handled (contextvars). Whatever a caller logs, the masking
processor replaces resident ID numbers, phone numbers and addresses — by key name and by pattern
in any string value — so personal data never reaches a log file.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

MASK = "***"
_SENSITIVE_KEYS = {
    "id_number", "id_no", "idcard", "id_card", "resident_id", "phone", "mobile", "telephone",
    "tel", "address", "addr", "home_address", "password", "client_secret", "account", "bank_account",
    "authorization", "access_token", "refresh_token",
}
# 18-digit (or 15-digit legacy) resident ID numbers, not inside a longer run of digits.
_ID_RE = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15})(?![\dXx])")
# Mainland mobile numbers, optionally with +86, and landlines like 0595-87654321.
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")
# A Chinese postal address: a place word followed somewhere by a house number (…路12号, …村3组5号).
_ADDRESS_RE = re.compile(r"[\u4e00-\u9fff]{1,12}(?:省|市|区|县|镇|乡|街道|村|社区|路|街|巷|弄)[^\s,;，；]{0,40}\d+\s*(?:号|组|栋|室|幢)")


def mask_text(text: str) -> str:
    """``text`` with ID numbers, phone numbers and addresses replaced by ``***``."""
    text = _ID_RE.sub(MASK, text)
    text = _PHONE_RE.sub(MASK, text)
    return _ADDRESS_RE.sub(MASK, text)


def _mask(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in _SENSITIVE_KEYS and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_mask(v) for v in value]
    return value


def mask_personal_data(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask personal data anywhere in the event dict."""
    return {k: _mask(v, k) for k, v in event_dict.items()}


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is now (a test runner swaps it; a bound file may close)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _CurrentStdoutHandler(logging.StreamHandler):
    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def configure_logging(service: str, level: str = "INFO", *, json: bool = True) -> None:
    """Configure structlog (and stdlib logging through it) for process ``service``."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_personal_data,
    ]
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared_processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStdout()),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Route the standard library's records (uvicorn, sqlalchemy, nats) through the same masking.
    handler = _CurrentStdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared_processors[:-1], structlog.stdlib.add_logger_name, mask_personal_data],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every URL at INFO (query strings may carry names); uvicorn.access duplicates ours.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
