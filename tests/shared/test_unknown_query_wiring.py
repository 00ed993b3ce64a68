"""Every endpoint of every app refuses a query parameter it does not declare (shared.query), before
authentication or any database work, so the apps are not started (no lifespan)."""

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.shared.apps import gateway_app, service_app

SERVICES = ("eligibility", "relief", "subsidy", "care", "wishes")


def _routes(app) -> list[tuple[str, str]]:
    """(method, path with its parameters filled) of every FastAPI route of the REST API (under
    /api/), included routers walked."""
    out = []
    pending = [(route, "") for route in app.routes]
    while pending:
        route, prefix = pending.pop()
        if isinstance(route, APIRoute):
            if not (prefix + route.path).startswith("/api/"):
                continue
            out.append((sorted(route.methods)[0], re.sub(r"\{[^}]+\}", "1", prefix + route.path)))
        elif hasattr(route, "original_router"):  # FastAPI's included router
            inner = prefix + route.include_context.prefix
            pending.extend((child, inner) for child in route.original_router.routes)
    return out


async def _refusals(app, base: str) -> list[tuple[str, str, int, str]]:
    wrong = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as client:
        for method, path in _routes(app):
            response = await client.request(method, path, params={"no_such_filter": "1", "limit": "5"})
            code = response.json().get("code") if response.headers.get("content-type", "").endswith("json") else None
            if (response.status_code, code) != (422, "unknown_parameter"):
                wrong.append((method, path, response.status_code, str(code)))
            else:
                errors = response.json()["errors"]
                # Only the undeclared name is named; a declared one (limit, where taken) is not.
                assert [e["field"] for e in errors] == ["no_such_filter"] or "limit" in [e["field"] for e in errors]
    return wrong


@pytest.mark.parametrize("name", SERVICES)
async def test_every_route_of_a_service_refuses_an_undeclared_query_parameter(name: str) -> None:
    app = service_app(name)
    assert len(_routes(app)) > 5
    assert await _refusals(app, "http://svc") == []


async def test_every_route_of_the_gateway_refuses_an_undeclared_query_parameter() -> None:
    assert await _refusals(gateway_app(), "http://gw") == []


async def test_declared_parameters_pass_and_each_undeclared_one_is_named() -> None:
    app = service_app("relief")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        # Declared filters and paging pass the check (what answers then is not this test's
        # concern: the app is not started).
        ok = await client.get("/api/v1/relief/cases", params={"limit": "5", "year": "2026", "status": "approved"})
        assert ok.json()["code"] != "unknown_parameter"
        both = await client.get("/api/v1/relief/cases", params={"stauts": "open", "limit": "5", "Year": "2026"})
    assert both.status_code == 422 and both.headers["content-type"] == "application/problem+json"
    body = both.json()
    assert body["code"] == "unknown_parameter"
    assert [e["field"] for e in body["errors"]] == ["Year", "stauts"]
    assert "'Year', 'stauts'" in body["detail"]


async def test_a_single_valued_parameter_given_twice_is_refused() -> None:
    """``?status=open&status=closed`` would silently keep the last value."""
    app = service_app("relief")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        twice = await client.get("/api/v1/relief/cases?status=open&status=paid&limit=5&year=2020&year=2021")
        empty_name = await client.get("/api/v1/relief/cases?=1")
    assert twice.status_code == 422 and twice.json()["code"] == "repeated_parameter"
    assert [e["field"] for e in twice.json()["errors"]] == ["status", "year"]
    assert empty_name.json()["code"] == "unknown_parameter" and "''" in empty_name.json()["detail"]


def test_list_typed_parameters_may_repeat() -> None:
    from typing import Annotated

    from fastapi import Query

    from shared.query import _takes_many

    assert _takes_many(list[str]) and _takes_many(list[str] | None) and _takes_many(Annotated[list[int] | None, Query()])
    assert not _takes_many(str) and not _takes_many(int | None) and not _takes_many(Annotated[str, Query()])


async def test_the_gateway_proxy_leaves_the_check_to_the_service() -> None:
    """The catch-all proxy is no FastAPI route: a parameter passes it untouched (it would be
    forwarded; here no service listens, so the answer is the gateway's own upstream error)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway_app()), base_url="http://gw") as client:
        response = await client.get("/api/v1/relief/cases", params={"stauts": "open"})
    assert response.json()["code"] != "unknown_parameter"


async def test_pages_oauth_and_probes_are_not_held_to_it() -> None:
    """The dashboard's assets carry ?v=<hash>; OAuth must ignore unknown parameters (RFC 6749)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway_app()), base_url="http://gw") as client:
        script = await client.get("/dashboard/static/dashboard.js", params={"v": "0123456789ab"})
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/dashboard", params={"from": "mail"})).status_code == 200
        token = await client.post("/oauth/token", params={"state": "x"}, data={"grant_type": "password"})
    assert token.json().get("code") != "unknown_parameter"
