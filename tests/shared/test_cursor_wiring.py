"""Every list of the suite (the gateway's and the five services') refuses a cursor it did not
issue (H3): 422 ``invalid_cursor`` problem+json, where a forged ``WyJ4Il0`` (``["x"]``) used to
reach the endpoint and give 500. The lists are found in each app's OpenAPI document (every GET
with a ``cursor`` parameter), so a new list is covered too. ``page_params``
answers before the token and the database are looked at, so the apps are not started."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from shared.pagination import encode_cursor
from tests.shared.apps import gateway_app, service_app

PROBLEM = "application/problem+json"
FORGED = "WyJ4Il0"  # base64url of ["x"], unsigned: the tester's cursor
APPS = ("gateway", "eligibility", "relief", "subsidy", "care", "wishes")
# Lists the tester named (H3) that must be among those found.
NAMED = {
    "gateway": {"/api/v1/gateway/dead-letters", "/api/v1/admin/users"},
    "eligibility": {"/api/v1/eligibility/households", "/api/v1/eligibility/applications",
                    "/api/v1/eligibility/benefits", "/api/v1/eligibility/referrals",
                    "/api/v1/eligibility/audit-log", "/api/v1/eligibility/departments/batches"},
    "relief": {"/api/v1/relief/reserves/{town}/{year}/entries"},
    "subsidy": {"/api/v1/subsidy/runs", "/api/v1/subsidy/runs/{run_id}/lines",
                "/api/v1/subsidy/housing-projects", "/api/v1/subsidy/cpi-figures"},
    "care": {"/api/v1/care/persons", "/api/v1/care/volunteers", "/api/v1/care/devices",
             "/api/v1/care/care-contracts", "/api/v1/care/waiting-list"},
    "wishes": {"/api/v1/wishes/campaigns", "/api/v1/wishes/campaigns/{campaign_id}/wishes",
               "/api/v1/wishes/pledges", "/api/v1/wishes/board", "/api/v1/wishes/organizations",
               "/api/v1/wishes/pairings"},
}


def _app(name: str) -> Any:
    return gateway_app() if name == "gateway" else service_app(name)


def _lists(app: Any) -> list[str]:
    """The route templates of the GETs taking a ``cursor`` (from the app's OpenAPI document)."""
    return sorted(
        path for path, operations in app.openapi()["paths"].items()
        if any(p["name"] == "cursor" and p["in"] == "query" for p in operations.get("get", {}).get("parameters", []))
    )


def _fill(template: str) -> str:
    values = {"town": "350505100", "year": "2020", "run_id": "1", "campaign_id": "1"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "00000000-0000-4000-8000-000000000001"), template)


@pytest.mark.parametrize("name", APPS)
async def test_every_list_refuses_a_cursor_it_did_not_issue(name: str) -> None:
    app = _app(name)
    lists = _lists(app)
    assert NAMED[name] <= set(lists), NAMED[name] - set(lists)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        for template in lists:
            # unsigned; signed for another list; its own, with a character appended to the tag
            for cursor in (FORGED, encode_cursor(["x"], scope="/api/v1/elsewhere"), encode_cursor(["x"], scope=template) + "A"):
                response = await client.get(_fill(template), params={"cursor": cursor})
                assert response.status_code == 422, (template, response.text)
                assert response.headers["content-type"] == PROBLEM
                assert response.json()["code"] == "invalid_cursor", (template, response.text)


@pytest.mark.parametrize("name", APPS)
async def test_a_cursor_issued_for_the_list_passes_the_check(name: str) -> None:
    """Signed with the process's key for the route template the list signs with, the cursor gets
    past the check: to the token (401 without one) or, where the unit of work comes first, to
    the database this unstarted app does not have (500)."""
    app = _app(name)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for template in _lists(app):
            response = await client.get(_fill(template), params={"cursor": encode_cursor(["x"], scope=template)})
            assert response.status_code in (401, 500), (template, response.text)
