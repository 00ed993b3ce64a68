"""The gateway's RS256 signing keys, kept in its database and published as a JWKS.

Exactly one key is *active* and signs new tokens. ``rotate()`` makes a new active key and gives
the previous one a ``retires_at`` = now + the longest token lifetime (+1 min of clock skew): until
then it stays in the JWKS, so every token it signed still verifies everywhere; afterwards it drops
out. Key ids are RFC 7638 thumbprints. Several gateway replicas share the table; each reloads it
every ``reload_seconds`` and when a token names a kid it does not know (at most twice a
second), so a token signed after a rotation on one replica verifies on the others within a
second. Times here are wall-clock, never the demo clock.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.models import SigningKey

log = structlog.get_logger("gateway.keys")
_SKEW = timedelta(minutes=1)
_UNKNOWN_KID_RELOAD = 0.5  # seconds


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: rsa.RSAPrivateKey


def _thumbprint(jwk: dict[str, Any]) -> str:
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


def new_key_row() -> SigningKey:
    """A fresh 2048-bit key pair as an (inactive, unsaved) row. CPU-bound: call in a thread."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.pop("key_ops", None)  # RFC 7517 §4.3: not together with "use"
    kid = _thumbprint(jwk)
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SigningKey(kid=kid, private_pem=pem, public_jwk=jwk, active=False)


class KeyRing:
    """Signing key and published keys, cached from the ``signing_keys`` table."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        token_lifetime: timedelta,
        reload_seconds: float = 5.0,
    ) -> None:
        self._session_factory = session_factory
        self.token_lifetime = token_lifetime
        self.reload_seconds = reload_seconds
        self._lock = asyncio.Lock()
        self._loaded_at = float("-inf")
        self._active: ActiveKey | None = None
        self._jwks: list[dict[str, Any]] = []
        self._public: dict[str, Any] = {}
        self._private_cache: dict[str, rsa.RSAPrivateKey] = {}

    async def _ensure_fresh(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self.reload_seconds:
            return
        async with self._lock:
            if not force and time.monotonic() - self._loaded_at < self.reload_seconds:
                return
            await self._reload()

    async def _reload(self) -> None:
        now = datetime.now(UTC)
        async with self._session_factory() as session:
            rows = (
                await session.scalars(
                    select(SigningKey)
                    .where(or_(SigningKey.retires_at.is_(None), SigningKey.retires_at > now))
                    .order_by(SigningKey.created_at)
                )
            ).all()
            active = next((r for r in rows if r.active), None)
            if active is None:
                active = await self._create_first_key(session)
                if active is None:  # another replica won the race: read its key
                    return await self._reload()
                rows = [*rows, active]
        if active.kid not in self._private_cache:
            self._private_cache[active.kid] = serialization.load_pem_private_key(active.private_pem.encode(), None)  # type: ignore[assignment]
        self._active = ActiveKey(active.kid, self._private_cache[active.kid])
        self._jwks = [dict(r.public_jwk) for r in rows]
        self._public = {
            r.kid: self._public.get(r.kid) or RSAAlgorithm.from_jwk(r.public_jwk) for r in rows
        }
        self._loaded_at = time.monotonic()

    async def _create_first_key(self, session: AsyncSession) -> SigningKey | None:
        row = await asyncio.to_thread(new_key_row)
        row.active = True
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # the partial unique index allows one active key
            await session.rollback()
            return None
        log.info("gateway.key.created", kid=row.kid)
        return row

    async def signing_key(self) -> ActiveKey:
        """The active key (created on first use when the table has none)."""
        await self._ensure_fresh()
        assert self._active is not None
        return self._active

    async def public_keys(self) -> dict[str, Any]:
        """kid -> public key of every published key."""
        await self._ensure_fresh()
        return dict(self._public)

    async def verifier_keys(self) -> dict[str, Any]:
        """The TokenVerifier's local key source. The verifier asks when it has no keys yet or a
        token names a kid it does not know (another replica may just have rotated): then the
        table is read again, at most once per ``_UNKNOWN_KID_RELOAD`` seconds, so tokens with
        made-up kids cannot turn into a query each."""
        if time.monotonic() - self._loaded_at >= _UNKNOWN_KID_RELOAD:
            async with self._lock:
                if time.monotonic() - self._loaded_at >= _UNKNOWN_KID_RELOAD:
                    await self._reload()
        return dict(self._public)

    async def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set: every key not yet retired."""
        await self._ensure_fresh()
        return {"keys": list(self._jwks)}

    async def rotate(self) -> tuple[str, str | None, datetime]:
        """Make a new active key; returns (new kid, previous kid, when the previous retires)."""
        row = await asyncio.to_thread(new_key_row)
        retires_at = datetime.now(UTC) + self.token_lifetime + _SKEW
        async with self._session_factory() as session:
            previous = await session.scalar(select(SigningKey).where(SigningKey.active).with_for_update())
            # The old key is demoted before the new one is inserted: one active key at any time.
            await session.execute(
                update(SigningKey).where(SigningKey.active).values(active=False, retires_at=retires_at)
            )
            row.active = True
            session.add(row)
            await session.commit()
        async with self._lock:
            await self._reload()
        previous_kid = previous.kid if previous is not None else None
        log.info("gateway.key.rotated", kid=row.kid, previous_kid=previous_kid, previous_retires_at=retires_at.isoformat())
        return row.kid, previous_kid, retires_at
