"""Deactivating users, donors and system clients: no new token, and the tokens they hold refused
at once (401 ``token_revoked``) on the proxy path and on the gateway's own routes — on the
replica that deactivated at once, on the others within their refresh."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import jwt

from gateway.auth.revocation import Revocations
from tests.gateway.conftest import Gateway, Stage, bearer, new_user, sign_in

PROBLEM = "application/problem+json"


def assert_revoked(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "token_revoked"


async def test_a_deactivated_user_loses_its_token_and_sign_in_until_reactivated(stage: Stage, api, anon) -> None:
    username, password = await new_user(api, ["auditor"])
    signed = await sign_in(anon, username, password)
    token = signed.json()["access_token"]
    assert (await anon.get("/api/v1/echo/x", headers=bearer(token))).status_code == 200

    off = await api.patch(f"/api/v1/admin/users/{username.upper()}", json={"active": False})  # any case
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False and off.json()["deactivated_at"] and off.json()["username"] == username
    assert_revoked(await anon.get("/api/v1/echo/x", headers=bearer(token)))  # the proxy path
    assert_revoked(await anon.get("/api/v1/admin/users", headers=bearer(token)))  # the gateway's own routes
    refused = await sign_in(anon, username, password)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    again = await api.patch(f"/api/v1/admin/users/{username}", json={"active": False})  # no-op
    assert again.status_code == 200 and again.json()["deactivated_at"] == off.json()["deactivated_at"]

    on = await api.patch(f"/api/v1/admin/users/{username}", json={"active": True})
    assert on.status_code == 200 and on.json()["active"] is True
    fresh = await sign_in(anon, username, password)
    assert fresh.status_code == 200, fresh.text
    assert (await anon.get("/api/v1/echo/x", headers=bearer(fresh.json()["access_token"]))).status_code == 200
    # A token from before the deactivation stays refused after the reactivation.
    assert_revoked(await anon.get("/api/v1/echo/x", headers=bearer(token)))


async def test_a_donor_is_deactivated_the_same_way(stage: Stage, api, anon) -> None:
    username, password = f"d{uuid.uuid4().hex[:10]}", "donor-pass-1"
    assert (await anon.post("/oauth/register", json={"username": username, "password": password, "display_name": "爱心"})).status_code == 201
    token = (await sign_in(anon, username, password)).json()["access_token"]
    assert (await api.patch(f"/api/v1/admin/users/{username}", json={"active": False})).status_code == 200
    assert_revoked(await anon.get("/api/v1/echo/x", headers=bearer(token)))
    assert (await sign_in(anon, username, password)).json()["error"] == "invalid_grant"


async def test_a_deactivated_client_loses_its_token(stage: Stage, api, anon) -> None:
    created = await api.post("/api/v1/admin/clients", json={"name": "泉州市统计局", "scopes": ["statistics"]})
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    token = (await anon.post("/oauth/token", data=form)).json()["access_token"]
    assert (await anon.get("/api/v1/echo/x", headers=bearer(token))).status_code == 200
    off = await api.patch(f"/api/v1/admin/clients/{client_id}", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False and "client_secret" not in off.json()
    assert_revoked(await anon.get("/api/v1/echo/x", headers=bearer(token)))
    refused = await anon.post("/oauth/token", data=form)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert (await api.patch(f"/api/v1/admin/clients/{client_id}", json={"active": True})).status_code == 200
    fresh = (await anon.post("/oauth/token", data=form)).json()["access_token"]
    assert (await anon.get("/api/v1/echo/x", headers=bearer(fresh))).status_code == 200


async def test_other_replicas_refuse_the_token_after_their_refresh(stage: Stage, api, anon, library_gateway: Gateway) -> None:
    username, password = await new_user(api, ["auditor"])
    token = (await sign_in(anon, username, password)).json()["access_token"]
    async with library_gateway.client(headers=bearer(token)) as other:
        assert (await other.get("/api/v1/echo/x")).status_code == 200
        assert (await api.patch(f"/api/v1/admin/users/{username}", json={"active": False})).status_code == 200
        for _ in range(50):  # the replica reloads every 0.2 s in these tests
            response = await other.get("/api/v1/echo/x")
            if response.status_code != 200:
                break
            await asyncio.sleep(0.1)
        assert_revoked(response)


async def test_a_new_replica_loads_the_deactivations_at_start(stage: Stage, api, anon) -> None:
    username, password = await new_user(api, ["auditor"])
    token = (await sign_in(anon, username, password)).json()["access_token"]
    iat = jwt.decode(token, options={"verify_signature": False})["iat"]
    assert (await api.patch(f"/api/v1/admin/users/{username}", json={"active": False})).status_code == 200
    revocations = Revocations(stage.gateway.app.state.sessionmaker, lifetime=stage.gateway.app.state.token_issuer.lifetime,
                              refresh_seconds=5)
    await revocations.load()
    assert revocations.users[username] >= iat and username not in revocations.clients


async def test_only_a_district_admin_deactivates(stage: Stage, api, anon) -> None:
    town_user, town_password = await new_user(api, ["town_caseworker"], town="350505100")
    town_token = (await sign_in(anon, town_user, town_password)).json()["access_token"]
    victim, _ = await new_user(api, ["auditor"])
    for path in (f"/api/v1/admin/users/{victim}", "/api/v1/admin/users/admin", "/api/v1/admin/clients/any-client"):
        refused = await anon.patch(path, json={"active": False}, headers=bearer(town_token))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert (await anon.patch(path, json={"active": False})).status_code == 401
    users = (await api.get("/api/v1/admin/users", params={"limit": 500})).json()["items"]
    assert next(u for u in users if u["username"] == victim)["active"] is True


async def test_bad_deactivations_are_refused(stage: Stage, api) -> None:
    victim, _ = await new_user(api, ["auditor"])
    for body in ({"active": "false"}, {"active": 0}, {}, {"active": False, "roles": ["district_admin"]}):
        response = await api.patch(f"/api/v1/admin/users/{victim}", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
    missing = await api.patch("/api/v1/admin/users/nobody-at-all", json={"active": False})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert (await api.patch("/api/v1/admin/clients/no-such-client", json={"active": False})).status_code == 404
    own = await api.patch("/api/v1/admin/users/admin", json={"active": False})
    assert own.status_code == 409 and own.json()["code"] == "cannot_deactivate_self"
