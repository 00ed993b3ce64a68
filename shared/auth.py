"""Bearer-token authentication and authorisation for every service.

Tokens are JWTs (RS256) issued by the gateway's ``POST /oauth/token`` and verified here with the
public keys the gateway publishes at ``/.well-known/jwks.json``. A key id not seen before makes the
verifier fetch the key set again (key rotation without downtime). Staff tokens carry ``roles`` and,
for town staff, ``town`` (a division code); system clients carry ``scope``.

Use in a router::

    @router.get("/households/{id}")
    async def get(..., principal: Principal = Depends(require_roles(*STAFF_ROLES))): ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import structlog
from fastapi import Depends, Request

from shared.errors import Problem, not_found

log = structlog.get_logger("shared.auth")

ALGORITHMS = ["RS256"]

# Roles of staff and donors (ARCHITECTURE.md, Security).
DISTRICT_ADMIN = "district_admin"
DISTRICT_APPROVER = "district_approver"
TOWN_APPROVER = "town_approver"
TOWN_CASEWORKER = "town_caseworker"
CARE_WORKER = "care_worker"
VOLUNTEER = "volunteer"
VILLAGE_OFFICER = "village_officer"
AUDITOR = "auditor"
DONOR = "donor"
ROLES = (
    DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, CARE_WORKER,
    VOLUNTEER, VILLAGE_OFFICER, AUDITOR, DONOR,
)
# Scopes of other bureaus' systems (client credentials).
SCOPES = ("medical_insurance", "public_security", "disabled_federation", "statistics", "bank", "device_platform")
DISTRICT_WIDE_ROLES = frozenset({DISTRICT_ADMIN, DISTRICT_APPROVER, AUDITOR})
STAFF_ROLES = (DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER, CARE_WORKER, AUDITOR)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user, a donor or a system client."""

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    town: str | None = None
    village: str | None = None
    client: bool = False
    name: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def district_wide(self) -> bool:
        """District staff and auditors see every town; system clients act district-wide too."""
        return self.client or bool(self.roles & DISTRICT_WIDE_ROLES)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    def can_see_town(self, town: str) -> bool:
        return self.district_wide or (self.town is not None and self.town == town)

    def ensure_town(self, town: str, what: str = "record") -> None:
        """404 (not 403) for another town's record, so its existence is not revealed (R-DB-7)."""
        if not self.can_see_town(town):
            raise not_found(what)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


class TokenVerifier:
    """Verifies JWTs against a key source (the gateway's JWKS, or local keys in the gateway)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        local_keys: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        refresh_interval: float = 5.0,
        cache_size: int = 50_000,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self._local_keys = local_keys
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._refresh_interval = refresh_interval
        self._lock = asyncio.Lock()
        # Verified tokens: token -> (principal, exp, kid), oldest first (see verify()).
        self._verified: dict[str, tuple[Principal, int, str]] = {}
        self.cache_size = cache_size

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            if not force and self._keys:
                return
            if force and time.monotonic() - self._fetched_at < self._refresh_interval and self._keys:
                return
            if self._local_keys is not None:
                self._keys = await self._local_keys()
            elif self.jwks_url:
                try:
                    async with httpx.AsyncClient(timeout=5.0) as client:
                        response = await client.get(self.jwks_url)
                        response.raise_for_status()
                        jwks = response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("auth.jwks.fetch_failed", error=str(exc))
                    return
                self._keys = {
                    k["kid"]: jwt.PyJWK(k).key for k in jwks.get("keys", []) if k.get("kid")
                }
            self._fetched_at = time.monotonic()

    async def _key_for(self, kid: str) -> Any:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        if kid not in self._keys:
            raise _unauthorized("The token is signed with an unknown key")
        return self._keys[kid]

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; 401 ``unauthorized`` for any invalid one.

        Refused: a malformed token, ``alg`` other than RS256 (``none`` included), an unknown
        ``kid``, a bad signature, a wrong issuer or audience, an expired token.

        A token that passed is remembered (keyed by the whole token string, so any other
        signature or claim is a different entry) until its ``exp``: the same token again costs a
        dictionary lookup instead of an RS256 verification. It is forgotten as soon as it
        expires, or once its key is no longer among the verifier's keys.
        """
        cached = self._verified.get(token)
        if cached is not None:
            principal, exp, kid = cached
            if exp > time.time() and kid in self._keys:
                return principal
            self._verified.pop(token, None)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized("The token is malformed") from None
        if header.get("alg") not in ALGORITHMS:
            raise _unauthorized("The token's algorithm is not accepted")
        kid = str(header.get("kid", ""))
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The token has expired") from None
        except jwt.PyJWTError:
            raise _unauthorized("The token is not valid") from None
        principal = principal_from_claims(claims)
        self._remember(token, principal, int(claims["exp"]), kid)
        return principal

    def _remember(self, token: str, principal: Principal, exp: int, kid: str) -> None:
        verified = self._verified
        if len(verified) >= self.cache_size:
            now = time.time()
            for old in [t for t, (_, e, _) in verified.items() if e <= now]:
                del verified[old]
            while len(verified) >= self.cache_size:
                del verified[next(iter(verified))]  # the oldest
        verified[token] = (principal, exp, kid)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope") or ""
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(claims.get("roles") or ()),
        scopes=frozenset(scope.split()),
        town=claims.get("town"),
        village=claims.get("village"),
        client=claims.get("typ") == "client",
        name=claims.get("name"),
        claims=claims,
    )


def bearer_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The bearer token among raw ASGI headers (as :func:`bearer_token`, without a Request)."""
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticated(request: Request) -> Principal:
    """FastAPI dependency: the caller's principal, or 401."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = bearer_token(request)
    if token is None:
        raise _unauthorized("A bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(token)
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(principal=principal.subject)
    return principal


def client_of(request: Request | None, principal: Principal) -> str | None:
    """Through which client a call came, as audit trails record it: the token's client (``azp`` /
    ``client_id`` claim) or the caller's ``X-Client`` / ``User-Agent`` header, ≤ 200 characters."""
    for claim in ("azp", "client_id"):
        value = principal.claims.get(claim)
        if value:
            return str(value)[:200]
    if request is None:
        return None
    value = request.headers.get("x-client") or request.headers.get("user-agent")
    return value[:200] if value else None


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency: a principal holding one of ``roles`` (403 ``forbidden`` otherwise)."""
    allowed = frozenset(roles)

    async def dependency(principal: Principal = Depends(authenticated)) -> Principal:
        if not principal.roles & allowed:
            raise Problem(403, "forbidden", "Your role may not do this")
        return principal

    return dependency


def require_scopes(*scopes: str, roles: Iterable[str] = ()) -> Callable[..., Awaitable[Principal]]:
    """Dependency: a system client with one of ``scopes`` (or a staff user with one of ``roles``)."""
    allowed_scopes = frozenset(scopes)
    allowed_roles = frozenset(roles)

    async def dependency(principal: Principal = Depends(authenticated)) -> Principal:
        if principal.scopes & allowed_scopes or principal.roles & allowed_roles:
            return principal
        raise Problem(403, "forbidden", "This client's scopes do not allow this")

    return dependency
