"""RFC 9457 problem details (``application/problem+json``) for every error the suite returns.

Every problem has a stable snake_case ``code`` that clients switch on (``over_case_cap``,
``reserve_insufficient``, ``checksum`` …); validation problems also list
``errors: [{"field", "code", "message"}]``. Bad input never gives a 5xx: malformed JSON, bytes
that are not UTF-8, a lone surrogate and an oversized body all answer 4xx here.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("shared.errors")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    501: "Not implemented",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Problem(Exception):
    """Raise to answer with a problem document.

    ``Problem(409, "over_pledged", "Only 50.00 yuan is still open", open_amount="50.00")`` —
    extra keyword arguments become extension members of the document.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.headers = headers
        self.extensions = extensions

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://quangang.example/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


def not_found(what: str) -> Problem:
    """404 ``not_found``; also what a town-scoped user gets for another town's record."""
    return Problem(404, "not_found", f"{what} not found")


def validation_problem(errors: list[dict[str, Any]], detail: str = "The request is not valid") -> Problem:
    return Problem(422, "validation_failed", detail, errors=errors)


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        problem.to_dict(request.url.path if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


# A malformed id (path, query or body) is ``invalid_id`` in every service, as relief's case ids.
_INVALID_ID_TYPES = frozenset({"uuid_parsing", "uuid_type", "uuid_version"})


def _error_code(err: dict[str, Any]) -> str:
    kind = err.get("type", "invalid")
    if kind in ("json_invalid", "value_error.jsondecode"):
        return "malformed_json"
    if kind in _INVALID_ID_TYPES:
        return "invalid_id"
    return kind.replace(".", "_")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid"))
        ctx = err.get("ctx") or {}
        # A ValueError raised inside a validator carries the real code on the exception.
        inner = ctx.get("error")
        code = getattr(inner, "code", None) or _error_code(err)
        out.append({"field": _field(tuple(err.get("loc", ()))), "code": code, "message": message})
    return out


def _caused_by_data_error(exc: BaseException) -> bool:
    """True if asyncpg refused a value (its DataError, or a subclass such as
    CharacterNotInRepertoireError, sits in the cause chain of SQLAlchemy's)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if any(kind.__name__ == "DataError" for kind in type(seen).__mro__):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem document."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        codes = {e["code"] for e in errors}
        if codes == {"malformed_json"}:
            problem = Problem(400, "malformed_json", "The body is not valid JSON", errors=errors)
        else:
            # A single domain code (e.g. "checksum") becomes the problem's own code.
            code = errors[0]["code"] if len(codes) == 1 else "validation_failed"
            problem = Problem(422, code, "The request is not valid", errors=errors)
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
            # FastAPI's answer to JSON nested deeper than Python's stack: malformed JSON like any other.
            code, detail = "malformed_json", "The body is not valid JSON"
        return problem_response(
            Problem(exc.status_code, code, detail, headers=getattr(exc, "headers", None)), request
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # A value the database cannot hold (an id beyond 64 bits, a number out of range) is bad
        # input that slipped past validation: the caller gets 422, the log gets the type only.
        if isinstance(exc, DataError) or _caused_by_data_error(exc):
            log.warning("http.request.value_out_of_range", path=request.url.path, error_type=type(exc.orig).__name__)
            return problem_response(Problem(422, "value_out_of_range", "A value in the request is out of range"), request)
        log.exception("http.request.failed", path=request.url.path)
        return problem_response(Problem(500, "internal_error", "An internal error occurred"), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.request.failed", path=request.url.path)
        return problem_response(Problem(500, "internal_error", "An internal error occurred"), request)
