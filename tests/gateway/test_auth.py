"""Tokens (password and client-credentials grants), their verification, key rotation, and the
administration of users and clients — with bad input refused and nothing stored."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from gateway.models import Client, User
from tests.gateway.conftest import ADMIN_PASSWORD, Stage

PROBLEM = "application/problem+json"


async def count(stage: Stage, model) -> int:  # noqa: ANN001
    async with stage.gateway.app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# --- the token endpoint -------------------------------------------------------------------------

async def test_password_grant_issues_an_rs256_token_with_the_agreed_claims(stage: Stage, anon) -> None:
    response = await anon.post("/oauth/token", data={"grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = claims_of(body["access_token"])
    assert claims["iss"] == stage.gateway.settings.token_issuer
    assert claims["aud"] == stage.gateway.settings.token_audience
    assert claims["sub"] == "admin" and claims["typ"] == "user" and claims["roles"] == ["district_admin"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"] and claims["name"]
    jwks = (await anon.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}


@pytest.mark.parametrize(
    ("form", "error", "status"),
    [
        ({"grant_type": "password", "username": "admin", "password": "wrong-password"}, "invalid_grant", 400),
        ({"grant_type": "password", "username": "nobody-here", "password": "whatever1"}, "invalid_grant", 400),
        ({"grant_type": "password", "username": "admin"}, "invalid_request", 400),
        ({"username": "admin", "password": ADMIN_PASSWORD}, "invalid_request", 400),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type", 400),
        ({"grant_type": "client_credentials", "client_id": "nope", "client_secret": "nope"}, "invalid_client", 401),
        ({"grant_type": "client_credentials"}, "invalid_client", 401),
    ],
)
async def test_bad_token_requests_get_rfc6749_errors(anon, form: dict, error: str, status: int) -> None:
    response = await anon.post("/oauth/token", data=form)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    if error == "invalid_client":
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_token_endpoint_wants_a_form(anon) -> None:
    response = await anon.post("/oauth/token", json={"grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    repeated = await anon.post("/oauth/token", content=b"grant_type=password&grant_type=password&username=a&password=b",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"


# --- verification -------------------------------------------------------------------------------

async def test_admin_route_without_a_token_is_401(anon) -> None:
    response = await anon.get("/api/v1/admin/users")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM and response.json()["code"] == "unauthorized"


def _forge(claims: dict, key, kid: str, alg: str = "RS256") -> str:  # noqa: ANN001
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


async def test_expired_none_and_foreign_tokens_are_refused(stage: Stage, anon, admin_token: str) -> None:
    real = claims_of(admin_token)
    kid = jwt.get_unverified_header(admin_token)["kid"]
    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    expired_claims = {**real, "iat": now - 7200, "exp": now - 3600}
    # An expired token signed with the gateway's own active key.
    own_key = (await stage.gateway.app.state.keyring.signing_key()).private_key
    expired = _forge(expired_claims, own_key, kid)
    # alg "none": unsigned, header claiming the real kid.
    unsigned_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"' + kid.encode() + b'"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(real).encode()).rstrip(b"=")
    none_token = (unsigned_header + b"." + payload + b".").decode()
    # Signed by a key the gateway never had, under the gateway's own kid.
    foreign = _forge({**real, "exp": now + 600}, foreign_key, kid)
    hs256 = jwt.encode({**real, "exp": now + 600}, "shared-secret-guess-of-32-bytes!!", algorithm="HS256", headers={"kid": kid})
    for token in (expired, none_token, foreign, hs256, "not-a-jwt"):
        response = await anon.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.json()["code"] == "unauthorized"
        # On a proxied path too: an invalid token never reaches a service.
        proxied = await anon.get("/api/v1/echo/anything", headers={"Authorization": f"Bearer {token}"})
        assert proxied.status_code == 401
    assert (await anon.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {admin_token}"})).status_code == 200


async def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_kid(stage: Stage, api, anon, admin_token: str) -> None:
    old_kid = jwt.get_unverified_header(admin_token)["kid"]
    rotated = await api.post("/api/v1/admin/keys:rotate")
    assert rotated.status_code == 200, rotated.text
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid and rotated.json()["previous_kid"] == old_kid
    jwks = {k["kid"] for k in (await anon.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= jwks
    # The token signed with the old key still works, here and (proxied) for a service.
    assert (await api.get("/api/v1/admin/users")).status_code == 200
    fresh = await stage.gateway.token()
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid
    assert (await anon.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200
    # The other gateway replica (same database) accepts the new kid within a second.
    async with stage.strict.client() as strict:
        for _ in range(10):
            status = (await strict.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {fresh}"})).status_code
            if status == 200:
                break
            await asyncio.sleep(0.2)
        assert status == 200


async def test_rotation_needs_district_admin(stage: Stage, api, anon) -> None:
    name = f"donor{uuid.uuid4().hex[:8]}"
    assert (await anon.post("/oauth/register", json={"username": name, "password": "donor-pass-1", "display_name": "捐赠人"})).status_code == 201
    token = await stage.gateway.token(name, "donor-pass-1")
    response = await anon.post("/api/v1/admin/keys:rotate", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert claims_of(token)["roles"] == ["donor"]


# --- users and clients --------------------------------------------------------------------------

async def test_admin_creates_a_village_officer_who_can_sign_in(stage: Stage, api) -> None:
    name = f"officer{uuid.uuid4().hex[:8]}"
    response = await api.post("/api/v1/admin/users", json={
        "username": name, "password": "officer-pass", "display_name": "王秀英",
        "roles": ["village_officer"], "village": "350505100001",
    })
    assert response.status_code == 201, response.text
    assert response.json()["town"] == "350505100" and "password" not in response.text
    claims = claims_of(await stage.gateway.token(name, "officer-pass"))
    assert claims["town"] == "350505100" and claims["village"] == "350505100001" and claims["name"] == "王秀英"
    listed = (await api.get("/api/v1/admin/users", params={"limit": 500})).json()
    assert name in {u["username"] for u in listed["items"]}
    duplicate = await api.post("/api/v1/admin/users", json={
        "username": name, "password": "officer-pass", "display_name": "x", "roles": ["auditor"]})
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "username_taken"


async def test_usernames_are_unique_and_sign_in_ignoring_case(stage: Stage, api, anon) -> None:
    name = f"Officer{uuid.uuid4().hex[:8]}"
    created = await api.post("/api/v1/admin/users", json={
        "username": name, "password": "officer-pass", "display_name": "王秀英", "roles": ["auditor"]})
    assert created.status_code == 201, created.text
    assert created.json()["username"] == name  # stored as given
    for other in (name.lower(), name.upper()):
        staff = await api.post("/api/v1/admin/users", json={
            "username": other, "password": "officer-pass", "display_name": "x", "roles": ["auditor"]})
        assert (staff.status_code, staff.json()["code"]) == (409, "username_taken"), other
        donor = await anon.post("/oauth/register", json={"username": other, "password": "donor-pass-1", "display_name": "x"})
        assert (donor.status_code, donor.json()["code"]) == (409, "username_taken"), other
    # Any case signs in, as the account created (its subject keeps the stored name).
    for typed in (name, name.lower(), name.upper()):
        assert claims_of(await stage.gateway.token(typed, "officer-pass"))["sub"] == name
    assert claims_of(await stage.gateway.token("ADMIN"))["sub"] == "admin"
    wrong = await anon.post("/oauth/token", data={"grant_type": "password", "username": name.upper(), "password": "wrong-pass"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("username", ["ADMIN", "Admin", "admin", "Administrator", "ROOT", "gateway", "System"])
async def test_a_donor_cannot_sign_up_as_a_built_in_account(anon, username: str) -> None:
    response = await anon.post("/oauth/register", json={"username": username, "password": "donor-pass-123",
                                                        "display_name": "南埔镇 caseworker"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["code"] for e in response.json()["errors"]] == ["reserved_username"]


async def test_the_database_refuses_a_username_differing_only_in_case(stage: Stage) -> None:
    from sqlalchemy.exc import IntegrityError

    from gateway.models import User

    async with stage.gateway.app.state.sessionmaker() as session:
        session.add(User(username="AdMiN", password_hash="x", display_name="x", roles=["donor"], active=True))
        with pytest.raises(IntegrityError, match="uq_users_username_lower"):
            await session.commit()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"roles": ["town_caseworker"]}, "town_required"),
        ({"roles": ["town_caseworker"], "town": "999999999"}, "unknown_town"),
        ({"roles": ["village_officer"], "town": "350505100"}, "village_required"),
        ({"roles": ["village_officer"], "town": "350505101", "village": "350505100001"}, "village_not_in_town"),
        ({"roles": ["village_officer"], "village": "350505100999"}, "unknown_village"),
        ({"roles": ["wizard"]}, "unknown_role"),
        ({"roles": []}, "too_short"),
        ({"roles": ["auditor"], "password": "short"}, "password_too_short"),
        ({"roles": ["auditor"], "username": "x"}, "invalid_username"),
        ({"roles": ["auditor"], "is_admin": True}, "extra_forbidden"),
    ],
)
async def test_bad_users_are_refused_and_nothing_is_stored(stage: Stage, api, body: dict, code: str) -> None:
    before = await count(stage, User)
    full = {"username": f"u{uuid.uuid4().hex[:8]}", "password": "long-enough-1", "display_name": "测试", **body}
    response = await api.post("/api/v1/admin/users", json=full)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert code in {e["code"] for e in response.json()["errors"]}
    assert await count(stage, User) == before


async def test_donor_sign_up_gives_role_donor_only(stage: Stage, anon) -> None:
    name = f"donor{uuid.uuid4().hex[:8]}"
    response = await anon.post("/oauth/register", json={"username": name, "password": "donor-pass-1", "display_name": "爱心人士"})
    assert response.status_code == 201 and response.json()["roles"] == ["donor"]
    before = await count(stage, User)
    for bad in (
        {"username": name, "password": "donor-pass-1", "display_name": "again"},  # 409
        {"username": f"x{name}", "password": "short", "display_name": "x"},
        {"username": f"y{name}", "password": "donor-pass-1", "display_name": "x", "roles": ["district_admin"]},
        {"username": f"z{name}", "password": "donor-pass-1"},
    ):
        refused = await anon.post("/oauth/register", json=bad)
        assert refused.status_code in (409, 422), refused.text
        assert refused.headers["content-type"] == PROBLEM
    assert await count(stage, User) == before


async def test_client_credentials_in_the_form_and_as_basic(stage: Stage, api, anon) -> None:
    created = await api.post("/api/v1/admin/clients", json={"name": "泉州市医保局", "scopes": ["medical_insurance", "statistics"]})
    assert created.status_code == 201, created.text
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    form = await anon.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert form.status_code == 200, form.text
    claims = claims_of(form.json()["access_token"])
    assert claims["typ"] == "client" and claims["sub"] == client_id and claims["scope"] == "medical_insurance statistics"
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    narrowed = await anon.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "statistics"},
                               headers={"Authorization": f"Basic {basic}"})
    assert narrowed.status_code == 200 and claims_of(narrowed.json()["access_token"])["scope"] == "statistics"
    wider = await anon.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "bank"},
                            headers={"Authorization": f"Basic {basic}"})
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    wrong = base64.b64encode(f"{client_id}:wrong".encode()).decode()
    refused = await anon.post("/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {wrong}"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


async def test_bad_clients_are_refused_and_nothing_is_stored(stage: Stage, api) -> None:
    before = await count(stage, Client)
    for body in ({"name": "x", "scopes": ["everything"]}, {"name": "x", "scopes": []}, {"scopes": ["bank"]},
                 {"name": "x", "scopes": ["bank"], "client_id": "Bad Id!"}):
        response = await api.post("/api/v1/admin/clients", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert await count(stage, Client) == before


async def test_the_case_insensitive_index_migration_names_existing_clashes(databases) -> None:
    from alembic import command
    from sqlalchemy import text

    from shared.db import make_engine
    from shared.migrations import alembic_config, upgrade

    url = await databases.create("gwcase")
    await asyncio.to_thread(command.upgrade, alembic_config("gateway", url), "0002_household_chain")
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for name in ("admin", "ADMIN", "Nanpu1", "nanpu2"):
                await conn.execute(text("INSERT INTO users (id, username, password_hash, display_name, roles) "
                                        "VALUES (gen_random_uuid(), :n, 'x', 'x', '[]')"), {"n": name})
        with pytest.raises(RuntimeError, match="admin, ADMIN"):
            await asyncio.to_thread(upgrade, "gateway", url)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE users SET username = 'admin-imitation' WHERE username = 'ADMIN'"))
        await asyncio.to_thread(upgrade, "gateway", url)  # no clash left: the index is built
        async with engine.begin() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'uq_users_username_lower'")) == 1
    finally:
        await engine.dispose()
