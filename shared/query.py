"""Refuse query parameters an endpoint does not take, or takes once and was given twice.

A misspelt filter (``?stauts=open``) that is silently ignored answers with the unfiltered list,
and a repeated one (``?status=open&status=closed``) silently keeps only the last value: either
way a caller cannot tell its filter did not do what it asked, and another bureau's system may act
on the answer. Every endpoint of the suite therefore answers 422 ``unknown_parameter`` for a
query parameter it does not declare and 422 ``repeated_parameter`` for a single-valued one given
more than once, naming them in ``errors`` like any other validation problem.

Only the REST API (paths under ``/api/``) is held to it: the dashboard's page and assets carry a
cache-busting ``?v=``, the OAuth endpoints must ignore parameters they do not know (RFC 6749
§3.1, §3.2), and probes and metrics are not the API. The check runs before authentication (it
needs nothing but the request line), so an anonymous caller learns only what OpenAPI publishes.
"""

from __future__ import annotations

import types
import typing
from collections import Counter
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel

from shared.errors import Problem

_MULTI = (list, tuple, set, frozenset)


@dataclass(frozen=True)
class _Declared:
    names: frozenset[str]
    multi: frozenset[str]  # the names that may be given more than once (list-typed)


# Per route, computed on first use (routes live as long as the app).
_DECLARED: dict[int, _Declared] = {}


def _takes_many(annotation: Any) -> bool:
    """True for ``list[str]``, ``list[str] | None``, ``Annotated[list[str], …]`` and the like."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _takes_many(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_takes_many(arg) for arg in typing.get_args(annotation))
    return (origin or annotation) in _MULTI


def _declared(route: APIRoute) -> _Declared:
    """The query parameters of the route and of all its dependencies (walked here: FastAPI's own
    flattening helpers are internal and change between versions)."""
    names: set[str] = set()
    multi: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        pending.extend(dependant.dependencies)
        for param in dependant.query_params:
            annotation: Any = getattr(param.field_info, "annotation", None)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                # A query-parameter model (``Annotated[Model, Query()]``): its fields are the names.
                for name, field in annotation.model_fields.items():
                    names.add(field.alias or name)
                    if _takes_many(field.annotation):
                        multi.add(field.alias or name)
                continue
            names.add(param.alias)
            if _takes_many(annotation):
                multi.add(param.alias)
    return _Declared(frozenset(names), frozenset(multi))


def _problem(code: str, names: list[str], what: str) -> Problem:
    shown = ", ".join(repr(n) for n in names)
    return Problem(422, code, f"Query parameter(s) {what}: {shown}",
                   errors=[{"field": name, "code": code, "message": what} for name in names])


async def refuse_unknown_query(request: Request) -> None:
    """FastAPI dependency installed on every route of every service (``shared.app``).

    Errors: 422 ``unknown_parameter`` listing each undeclared query parameter (sorted), else 422
    ``repeated_parameter`` listing each single-valued one given more than once; both as
    ``errors: [{"field": name, "code": …, "message": …}]``. Paths outside ``/api/`` are not
    checked; routes that are not FastAPI routes (the gateway's proxy) do not run it: the service
    behind them does.
    """
    if not request.scope.get("query_string") or not request.scope["path"].startswith("/api/"):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _DECLARED.get(id(route))
    if declared is None:
        declared = _DECLARED[id(route)] = _declared(route)
    given = Counter(name for name, _ in request.query_params.multi_items())
    unknown = sorted(set(given) - declared.names)
    if unknown:
        raise _problem("unknown_parameter", unknown, "not taken by this endpoint")
    repeated = sorted(name for name, count in given.items() if count > 1 and name not in declared.multi)
    if repeated:
        raise _problem("repeated_parameter", repeated, "given more than once, taken once")
