"""Refuse query parameters an endpoint does not take.

A misspelt filter (``?stauts=open``) that is silently ignored answers with the unfiltered list:
a caller cannot tell the filter did nothing, and another bureau's system may act on it. Every
endpoint of the suite therefore answers 422 ``unknown_parameter`` for a query parameter it does
not declare, naming them in ``errors`` like any other validation problem.

Only the REST API (paths under ``/api/``) is held to it: the dashboard's page and assets carry a
cache-busting ``?v=``, the OAuth endpoints must ignore parameters they do not know (RFC 6749
§3.1, §3.2), and probes and metrics are not the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel

from shared.errors import Problem

# Declared names per route, computed on first use (routes live as long as the app).
_DECLARED: dict[int, frozenset[str]] = {}


def _declared_names(route: APIRoute) -> frozenset[str]:
    """The query parameter names of the route and of all its dependencies (walked here: FastAPI's
    own flattening helpers are internal and change between versions)."""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        pending.extend(dependant.dependencies)
        for param in dependant.query_params:
            annotation: Any = getattr(param.field_info, "annotation", None)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                # A query-parameter model (``Annotated[Model, Query()]``): its fields are the names.
                names.update(f.alias or name for name, f in annotation.model_fields.items())
            names.add(param.alias)
    return frozenset(names)


async def refuse_unknown_query(request: Request) -> None:
    """FastAPI dependency installed on every route of every service (``shared.app``).

    Errors: 422 ``unknown_parameter`` with ``errors: [{"field": name, "code": "unknown_parameter",
    "message": …}]`` listing each undeclared query parameter (sorted). Paths outside ``/api/``
    are not checked; routes that are not FastAPI routes (the gateway's proxy) do not run it: the
    service behind them does.
    """
    if not request.scope.get("query_string") or not request.scope["path"].startswith("/api/"):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _DECLARED.get(id(route))
    if declared is None:
        declared = _DECLARED[id(route)] = _declared_names(route)
    unknown = sorted(set(request.query_params.keys()) - declared)
    if unknown:
        raise Problem(
            422, "unknown_parameter",
            f"Query parameter(s) not taken by this endpoint: {', '.join(unknown)}",
            errors=[{"field": name, "code": "unknown_parameter", "message": "not a parameter of this endpoint"}
                    for name in unknown],
        )
