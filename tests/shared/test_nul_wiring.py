"""The body guard as every app of the suite is built (shared.app.create_service_app): the gateway's
own routes, its fast proxy path and a service all refuse U+0000 before anything else runs. The
guard answers before any route or database, so the apps are not started (no lifespan)."""

import httpx
import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
async def gateway():
    from gateway.app import create_app
    from gateway.config import Settings

    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:9/none", nats_url="nats://127.0.0.1:9"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        yield client


async def test_the_token_endpoint_refuses_a_nul_in_oauths_own_shape(gateway) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = await gateway.post("/oauth/token", content=b"grant_type=password&username=admin%00&password=x", headers=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "target", "content"),
    [
        ("POST", "/oauth/register", rb'{"username": "nulname1", "password": "donor-pass-123", "display_name": "x\u0000y"}'),
        ("GET", "/api/v1/eligibility/persons?id_number=35050519800101123%004", None),  # the fast proxy path
        ("GET", "/api/v1/eligibility/audit-log?actor=%00", None),
        ("PATCH", "/api/v1/eligibility/households/1", rb'{"address": "\u6cc9\u6e2f\u533a\u0000"}'),
        ("POST", "/api/v1/relief/cases", rb'{"reason": "\u0000"}'),
        ("GET", "/api/v1/admin/users?cursor=%00", None),
    ],
)
async def test_the_gateway_refuses_a_nul_before_routing_or_forwarding(gateway, method: str, target: str, content) -> None:
    headers = {"content-type": "application/json"} if content else {}
    response = await gateway.request(method, target, content=content, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM and response.json()["code"] == "nul_character"


async def test_a_service_refuses_a_nul_in_a_csv_body() -> None:
    from tests.shared.apps import service_app

    app = service_app("eligibility")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.post("/api/v1/eligibility/departments/medical-expenses",
                                     content=b"reference,id_number\nR1\x00,x\n", headers={"content-type": "text/csv"})
    assert (response.status_code, response.json()["code"]) == (422, "nul_character")
