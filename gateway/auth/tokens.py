"""Access tokens: RS256 JWTs signed with the active key (header ``kid``).

Claims: ``iss``/``aud`` (settings ``token_issuer``/``token_audience``), ``sub`` (username or
client id), ``iat``/``exp`` (wall-clock seconds: the demo clock never ages a token), ``jti``,
``typ`` (``"user"`` | ``"client"``), ``roles`` (list), ``town``/``village`` when set, ``scope``
(space-separated, clients) and ``name`` (display name).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import jwt

from gateway.auth.keys import KeyRing


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds
    jti: str
    kid: str


class TokenIssuer:
    """Mints tokens for users, clients and the gateway itself."""

    def __init__(self, keyring: KeyRing, *, issuer: str, audience: str, lifetime: timedelta) -> None:
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime

    async def issue(
        self,
        *,
        subject: str,
        typ: Literal["user", "client"],
        roles: list[str],
        name: str | None = None,
        town: str | None = None,
        village: str | None = None,
        scope: list[str] | None = None,
        lifetime: timedelta | None = None,
    ) -> IssuedToken:
        """A signed token for ``subject``; ``lifetime`` defaults to ``access_token_minutes``."""
        key = await self.keyring.signing_key()
        seconds = int((lifetime or self.lifetime).total_seconds())
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + seconds,
            "jti": uuid.uuid4().hex,
            "typ": typ,
            "roles": list(roles),
        }
        if name:
            claims["name"] = name
        if town:
            claims["town"] = town
        if village:
            claims["village"] = village
        if scope is not None:
            claims["scope"] = " ".join(scope)
        token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
        return IssuedToken(token, seconds, claims["jti"], key.kid)
