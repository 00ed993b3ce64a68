"""Structured JSON logging (structlog) with personal data masked in every line.

Event names are dotted (``relief.case.approved``). A request's id and correlation id are bound
to every line logged while it is handled (contextvars). Whatever a caller logs, the masking
processor replaces resident ID numbers, phone numbers and addresses — by key name and by pattern
in any string value — so personal data never reaches a log file.
"""

from __future__ import annotations

import json
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


# The values PostgreSQL quotes in an error (in a logged traceback): a DETAIL line's key values
# (``Key (id_number)=(…) already exists``) or row (``Failing row contains (name, address, …)``),
# and the refused input of ``invalid input syntax for type uuid: "…"``. A name or an address
# without a house number would pass the patterns above. Column names and deadlock details stay.
_PG_VALUES_RE = re.compile(
    r"(DETAIL:[ \t]+Key \([^()\n]*\)=)[^\n]*"
    r"|(DETAIL:[ \t]++)(?!Key \(|Process \d)[^\n]*"
    r"|(invalid input (?:syntax|value) for [^:\n]*: )\"[^\n]*"
)


def _mask_pg_values(match: re.Match[str]) -> str:
    key, detail, invalid = match.groups()
    if key is not None:
        return f"{key}({MASK})"
    if detail is not None:
        return detail + MASK
    return f'{invalid}"{MASK}"'


# Every pattern above needs eleven digits in a row (ID numbers, mobiles), a dash and seven digits
# (landlines), a Chinese character (addresses) or PostgreSQL's words: a string with none of them
# (most log values: event names, request ids, amounts, routes) is let through after this one scan.
_SUSPECT_RE = re.compile(r"\d{11}|-\d{7}|[\u4e00-\u9fff]|DETAIL:|invalid input")


def mask_text(text: str) -> str:
    """``text`` with ID numbers, phone numbers, addresses and the values quoted in PostgreSQL's
    error messages replaced by ``***``."""
    if _SUSPECT_RE.search(text) is None:
        return text
    if "DETAIL:" in text or "invalid input" in text:
        text = _PG_VALUES_RE.sub(_mask_pg_values, text)
    text = _ID_RE.sub(MASK, text)
    text = _PHONE_RE.sub(MASK, text)
    return _ADDRESS_RE.sub(MASK, text)


def describe_error(exc: BaseException, limit: int = 300) -> str:
    """A log line's short account of ``exc``: a database error's own message and SQLSTATE
    (``deadlock detected (SQLSTATE 40P01)``) without SQLAlchemy's statement and links, any
    other exception's text; at most ``limit`` characters. Values in it are masked like any
    logged string (the engines hide SQL parameters, see ``shared.db.make_engine``)."""
    orig = getattr(exc, "orig", None)  # a SQLAlchemy DBAPIError wraps the driver's error
    if orig is not None:
        text = str(orig)
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if state:
            text = f"{text} (SQLSTATE {state})"
    else:
        text = str(exc)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_key_is_sensitive: dict[str, bool] = {}


def _sensitive(key: str) -> bool:
    """Whether values under ``key`` are masked whatever they are (memoised: keys repeat)."""
    known = _key_is_sensitive.get(key)
    if known is None:
        if len(_key_is_sensitive) > 10_000:
            _key_is_sensitive.clear()
        known = _key_is_sensitive[key] = key.lower() in _SENSITIVE_KEYS
    return known


def _mask(value: Any, key: str | None = None) -> Any:
    if key is not None and _sensitive(key) and value not in (None, ""):
        return MASK
    kind = type(value)
    if kind is str:
        return mask_text(value)
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_mask(v) for v in value]
    return value


def mask_personal_data(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask personal data anywhere in the event dict.

    What ``{k: _mask(v, k)}`` does, with the common cases (plain strings and numbers under
    ordinary keys) handled inline: every log line passes through here."""
    out: dict[str, Any] = {}
    sensitive = _key_is_sensitive
    suspect = _SUSPECT_RE.search
    for key, value in event_dict.items():
        flagged = sensitive.get(key)
        if flagged is None:
            flagged = _sensitive(key) if isinstance(key, str) else False
        kind = type(value)
        if flagged and value is not None and value != "":
            out[key] = MASK
        elif kind is str:
            out[key] = value if suspect(value) is None else mask_text(value)
        elif value is None or kind is int or kind is float or kind is bool:
            out[key] = value
        else:
            out[key] = _mask(value)
    return out


def merge_contextvars(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: what ``structlog.contextvars.merge_contextvars`` does — add the
    context-local values bound with ``bind_contextvars`` — reading only structlog's own context
    variables instead of copying the whole context (every library's variables) per line."""
    for name, var in tuple(_structlog_vars().items()):  # another thread may add one meanwhile
        value = var.get()
        if value is not Ellipsis:
            event_dict.setdefault(name[_PREFIX_LEN:], value)
    return event_dict


_PREFIX_LEN = len(structlog.contextvars.STRUCTLOG_KEY_PREFIX)


def _structlog_vars() -> dict[str, Any]:
    return structlog.contextvars._CONTEXT_VARS  # noqa: SLF001 - every variable bind_contextvars made


if not isinstance(getattr(structlog.contextvars, "_CONTEXT_VARS", None), dict):  # pragma: no cover
    merge_contextvars = structlog.contextvars.merge_contextvars  # noqa: F811 - structlog changed inside

# One encoder for every line (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=structlog.processors._json_fallback_handler)  # noqa: SLF001


def _dumps(event_dict: dict[str, Any], **_: Any) -> str:
    return _ENCODER.encode(event_dict)


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
        merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_personal_data,
    ]
    renderer: Any = structlog.processors.JSONRenderer(serializer=_dumps) if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared_processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # One write and one flush a line (PrintLogger's print() writes twice).
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStdout()),
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
