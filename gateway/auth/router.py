"""OAuth2 token endpoint, donor sign-up, JWKS, and the administration of users, clients and keys.

``POST /oauth/token`` speaks RFC 6749 (form-encoded request; errors as ``{"error",
"error_description"}``: ``invalid_request`` / ``unsupported_grant_type`` / ``invalid_grant`` /
``invalid_scope`` 400, ``invalid_client`` 401 with ``WWW-Authenticate: Basic``) — OAuth client
libraries expect exactly that, so it is the one place the gateway does not answer problem+json
(a 429 from the IP rate limit still is).

Sign-in is limited twice: per client IP (the ordinary token buckets, never by a bearer token sent
along) and per username (:class:`gateway.ratelimit.LoginFailures`: after
``login_failure_limit`` failed password sign-ins within ``login_failure_window_seconds`` the
username gets 429 with ``Retry-After`` and ``{"error": "invalid_grant"}``). ``invalid_grant`` is
the one RFC 6749 §5.2 code for refused resource-owner credentials, which every OAuth client
knows; ``slow_down`` is RFC 8628's, defined only for polling a device code, so a password-grant
client would not understand it. The status 429 (RFC 6585) and ``Retry-After`` tell the client to
wait rather than to ask for another password. A district administrator lifts a username's lock with
``POST /api/v1/admin/users/{username}:unlock`` (the IP limit stays: see :func:`unlock_user`).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any
from urllib.parse import unquote

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.auth import service
from gateway.auth.keys import KeyRing
from gateway.auth.revocation import Revocations
from gateway.auth.schemas import (
    AccountUpdate,
    ClientCreate,
    ClientCreated,
    ClientOut,
    DonorRegistration,
    KeyRotation,
    SignInLock,
    TokenResponse,
    UserCreate,
    UserOut,
)
from gateway.auth.tokens import TokenIssuer
from gateway.ratelimit import LoginFailures, enforce_ip_rate_limit, enforce_rate_limit
from shared.app import get_uow
from shared.auth import DISTRICT_ADMIN, Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.pagination import Page, PageParams, page_params

log = structlog.get_logger("gateway.auth")

oauth_router = APIRouter(tags=["auth"], dependencies=[Depends(enforce_ip_rate_limit)])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(enforce_rate_limit)])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"


def oauth_error(error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = {**_NO_STORE, **(headers or {})}
    if error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="quangang"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def _guard_refusal(problem: Problem) -> JSONResponse | None:
    """The body guard's refusal of a malformed token request (a NUL character, bytes that are
    not UTF-8) in RFC 6749's shape; an oversized body keeps its 413 problem document."""
    return None if problem.status == 413 else oauth_error("invalid_request", problem.detail)


oauth_router.guard_answers = {"/oauth/token": _guard_refusal}  # type: ignore[attr-defined]


class _OAuthRefusal(Exception):
    def __init__(self, error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.response = oauth_error(error, description, status, headers)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """(client_id, client_secret) from ``Authorization: Basic`` (RFC 6749 §2.3.1), if given."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _OAuthRefusal("invalid_client", "Malformed Basic credentials", 401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _OAuthRefusal("invalid_client", "Malformed Basic credentials", 401)
    return unquote(client_id), unquote(secret)


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise _OAuthRefusal("invalid_request", f"The body must be {_FORM}")
    form = await request.form()
    params: dict[str, str] = {}
    for key in form:
        values = form.getlist(key)
        if len(values) > 1:
            raise _OAuthRefusal("invalid_request", f"Parameter {key} is repeated")
        if not isinstance(values[0], str):
            raise _OAuthRefusal("invalid_request", f"Parameter {key} is not text")
        params[key] = values[0]
    return params


def _token_body(token: Any, scope: str | None = None) -> JSONResponse:
    body = TokenResponse(access_token=token.access_token, expires_in=token.expires_in, scope=scope)
    return JSONResponse(body.model_dump(exclude_none=True), headers=_NO_STORE)


async def _password_grant(request: Request, params: dict[str, str], uow: UnitOfWork) -> JSONResponse:
    username, password = params.get("username"), params.get("password")
    if not username or not password:
        raise _OAuthRefusal("invalid_request", "username and password are required")
    failures: LoginFailures = request.app.state.login_failures
    wait = failures.blocked_for(username)
    if wait is not None and failures.apply_unlock(username, await service.unlocked_at(username, uow=uow)):
        # An administrator unlocked the user (perhaps on another replica) since some failures.
        wait = failures.blocked_for(username)
    if wait is not None:
        retry_after = max(1, math.ceil(wait))
        log.info("gateway.token.throttled", grant_type="password", retry_after=retry_after)
        raise _OAuthRefusal("invalid_grant", f"Too many failed sign-ins for this username; retry in {retry_after} s",
                            429, {"Retry-After": str(retry_after)})
    user = await service.authenticate_user(username, password, uow=uow)
    if user is None:
        failures.failed(username)
        log.info("gateway.token.refused", grant_type="password", username=username)
        raise _OAuthRefusal("invalid_grant", "The username or password is wrong")
    failures.succeeded(username)
    issuer: TokenIssuer = request.app.state.token_issuer
    token = await issuer.issue(
        subject=user.subject, typ="user", roles=user.roles, name=user.name, town=user.town, village=user.village
    )
    log.info("gateway.token.issued", grant_type="password", sub=user.subject, kid=token.kid, jti=token.jti)
    return _token_body(token)


async def _client_credentials_grant(request: Request, params: dict[str, str], uow: UnitOfWork) -> JSONResponse:
    basic = _basic_credentials(request)
    in_form = params.get("client_id") is not None or params.get("client_secret") is not None
    if basic is not None and in_form:
        raise _OAuthRefusal("invalid_request", "Give client credentials either in the body or as Basic, not both")
    client_id, secret = basic or (params.get("client_id", ""), params.get("client_secret", ""))
    if not client_id or not secret:
        raise _OAuthRefusal("invalid_client", "Client authentication is required", 401)
    client = await service.authenticate_client(client_id, secret, uow=uow)
    if client is None:
        log.info("gateway.token.refused", grant_type="client_credentials", client_id=client_id)
        raise _OAuthRefusal("invalid_client", "Unknown client or wrong secret", 401)
    scopes = list(client.scopes)
    if params.get("scope"):
        requested = params["scope"].split()
        if not set(requested) <= set(scopes):
            raise _OAuthRefusal("invalid_scope", "The client may not request that scope")
        scopes = [s for s in scopes if s in requested]
    issuer: TokenIssuer = request.app.state.token_issuer
    token = await issuer.issue(subject=client.subject, typ="client", roles=[], name=client.name, scope=scopes)
    log.info("gateway.token.issued", grant_type="client_credentials", sub=client.subject, kid=token.kid, jti=token.jti)
    return _token_body(token, " ".join(scopes))


@oauth_router.post(
    "/oauth/token",
    response_model=TokenResponse,
    responses={400: {"description": "RFC 6749 error"}, 401: {"description": "invalid_client"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {_FORM: {"schema": {"type": "object", "required": ["grant_type"], "properties": {
                "grant_type": {"type": "string", "enum": ["password", "client_credentials"]},
                "username": {"type": "string"}, "password": {"type": "string", "format": "password"},
                "client_id": {"type": "string"}, "client_secret": {"type": "string", "format": "password"},
                "scope": {"type": "string", "description": "space-separated"},
            }}}},
        }
    },
)
async def token(request: Request, uow: UnitOfWork = Depends(get_uow)) -> JSONResponse:
    """Issue an access token: ``grant_type=password`` (staff and donors: username, password) or
    ``client_credentials`` (systems: client_id/client_secret in the body or HTTP Basic; optional
    ``scope`` narrows the client's scopes)."""
    try:
        params = await _form(request)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise _OAuthRefusal("invalid_request", "grant_type is required")
        if grant_type == "password":
            return await _password_grant(request, params, uow)
        if grant_type == "client_credentials":
            return await _client_credentials_grant(request, params, uow)
        raise _OAuthRefusal("unsupported_grant_type", f"grant_type {grant_type[:40]!r} is not supported")
    except _OAuthRefusal as refusal:
        return refusal.response


@oauth_router.post("/oauth/register", status_code=201, response_model=UserOut)
async def register(data: DonorRegistration, uow: UnitOfWork = Depends(get_uow)) -> UserOut:
    """A donor signs up (no login needed): a user with role ``donor`` only. 409 ``username_taken``."""
    return await service.register_donor(data, uow=uow)


@oauth_router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> JSONResponse:
    """The public keys that verify the gateway's tokens (every key not yet retired)."""
    keyring: KeyRing = request.app.state.keyring
    return JSONResponse(await keyring.jwks(), headers={"Cache-Control": "public, max-age=60"})


@admin_router.post("/users", status_code=201, response_model=UserOut)
async def create_user(
    data: UserCreate, request: Request, uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> UserOut:
    """Create a staff user (district_admin). 422 for unknown roles/towns/villages or a short
    password; 409 ``username_taken``."""
    return await service.create_user(data, failures=request.app.state.login_failures, uow=uow)


@admin_router.get("/users", response_model=Page[UserOut])
async def list_users(
    request: Request,
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    _: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> Page[UserOut]:
    """Users ordered by username (district_admin). ``locked_until`` (RFC 3339, or null) is when
    the replica that answers lets a user locked by failed sign-ins try again; ``unlocked_at`` /
    ``unlocked_by`` the last lifting of such a lock."""
    return await service.list_users(page, failures=request.app.state.login_failures, uow=uow)


@admin_router.patch("/users/{username}", response_model=UserOut)
async def update_user(
    username: str, data: AccountUpdate, request: Request, uow: UnitOfWork = Depends(get_uow),
    admin: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> UserOut:
    """Deactivate (``{"active": false}``) or reactivate (``{"active": true}``) a staff user or a
    donor (district_admin; ``username`` ignoring case). A deactivated user's sign-in gets
    ``invalid_grant`` and its tokens 401 ``token_revoked`` at once, on every gateway replica within
    ``revocation_refresh_seconds``; they stay refused after a reactivation. 404 ``not_found``;
    409 ``cannot_deactivate_self``; 422 for any other body."""
    revocations: Revocations = request.app.state.revocations
    return await service.set_user_active(username, data.active, by=admin, revocations=revocations,
                                         failures=request.app.state.login_failures, uow=uow)


@admin_router.post("/users/{username}:unlock", response_model=SignInLock)
async def unlock_user(
    username: str, request: Request, uow: UnitOfWork = Depends(get_uow),
    admin: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> SignInLock:
    """Lift the lock that failed password sign-ins put on a username (district_admin, as for
    deactivation; ``username`` ignoring case), e.g. after the real user called the district office:
    its next sign-in with the right password gets a token. No body. 200 ``{"username", "locked":
    false, "locked_until": null, "failed_attempts": 0, "unlocked_at", "unlocked_by"}``, also when it
    was not locked; 404 ``not_found``. Every replica forgets the failures from before the unlock
    (the others when the username next meets their limit). Recorded as the user's ``unlocked_at``
    / ``unlocked_by`` and logged as ``gateway.user.unlocked``.

    The per-IP limit is not lifted: it keys an address, not an account (the same address may be an
    office's NAT or a guesser's, trying many accounts), so it is no lock of this user's; and it
    locks nothing for long, refilling by itself (its whole burst in ``rate_limit_burst /
    rate_limit_per_minute`` minutes, 10 s by default). Refilling it would give whoever is at that
    address a fresh burst of guesses at every account."""
    failures: LoginFailures = request.app.state.login_failures
    return await service.unlock_user(username, by=admin, failures=failures, uow=uow)


@admin_router.patch("/clients/{client_id}", response_model=ClientOut)
async def update_client(
    client_id: str, data: AccountUpdate, request: Request, uow: UnitOfWork = Depends(get_uow),
    admin: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> ClientOut:
    """Deactivate or reactivate a system client (district_admin), as for users: a deactivated
    client's token request gets ``invalid_client`` and its tokens 401 ``token_revoked``. 404
    ``not_found``; 422 for any other body."""
    revocations: Revocations = request.app.state.revocations
    return await service.set_client_active(client_id, data.active, by=admin, revocations=revocations, uow=uow)


@admin_router.post("/clients", status_code=201, response_model=ClientCreated)
async def create_client(
    data: ClientCreate, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(require_roles(DISTRICT_ADMIN))
) -> ClientCreated:
    """Register another bureau's system (district_admin). The secret is in this answer only."""
    return await service.create_client(data, uow=uow)


@admin_router.post("/keys:rotate", response_model=KeyRotation)
async def rotate_keys(request: Request, _: Principal = Depends(require_roles(DISTRICT_ADMIN))) -> KeyRotation:
    """Start signing with a new key (district_admin). The previous key stays in the JWKS until
    every token it signed has expired (``previous_retires_at``)."""
    keyring: KeyRing = request.app.state.keyring
    kid, previous, retires_at = await keyring.rotate()
    return KeyRotation(kid=kid, previous_kid=previous, previous_retires_at=retires_at)
