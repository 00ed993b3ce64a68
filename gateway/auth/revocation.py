"""Refusing the tokens of deactivated users and clients at the gateway.

A token is a signed JWT that lives ``access_token_minutes``; deactivating its account must stop it
at once. Each account row keeps ``deactivated_at`` (its last deactivation, kept on reactivation),
and every gateway process keeps, in memory, the deactivations younger than the longest token
lifetime: ``{subject: deactivated_at}`` (wall-clock epoch seconds, the clock of the tokens' ``iat``),
one map for users and one for clients (their names may coincide). A token whose ``iat`` is at or
before its subject's deactivation is refused with 401 problem+json ``token_revoked``. The check is
a dictionary lookup per request (:meth:`Revocations.check`).

The maps are loaded at start-up, refreshed from the database every ``revocation_refresh_seconds``
(so every replica learns of a deactivation made on another within that time) and updated at once
by the replica that served the deactivation. A refresh only adds or advances entries (a
``deactivated_at`` never moves back) and forgets those older than the token lifetime: a refresh
that raced a deactivation cannot lose it.

``iat`` is in whole seconds: a token issued in the second of the deactivation is refused, and so
reactivation waits until that second is over (:func:`wait_past`), so that the tokens of the next
sign-in are accepted.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Client, User
from shared.auth import Principal, TokenVerifier
from shared.errors import Problem

log = structlog.get_logger("gateway.auth")

# Tolerated difference between the replicas' clocks when forgetting old deactivations.
_CLOCK_SLACK = 300.0


def token_revoked() -> Problem:
    return Problem(
        401, "token_revoked", "The token's account was deactivated after the token was issued",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class Revocations:
    """The deactivated subjects of this gateway process (see the module docstring)."""

    def __init__(self, sessionmaker: Callable[[], AsyncSession], *, lifetime: timedelta, refresh_seconds: float) -> None:
        self._sessionmaker = sessionmaker
        self.window = lifetime.total_seconds() + _CLOCK_SLACK
        self.refresh_seconds = refresh_seconds
        self.users: dict[str, float] = {}
        self.clients: dict[str, float] = {}

    def check(self, principal: Principal) -> None:
        """401 ``token_revoked`` when the principal's subject was deactivated at or after its token's ``iat``."""
        cutoff = (self.clients if principal.client else self.users).get(principal.subject)
        if cutoff is not None and principal.claims.get("iat", 0) <= cutoff:
            raise token_revoked()

    def note(self, *, client: bool, subject: str, at: float) -> None:
        """Record a deactivation of ``subject`` at ``at`` (epoch seconds)."""
        table = self.clients if client else self.users
        if at > table.get(subject, -math.inf):
            table[subject] = at

    async def load(self) -> None:
        """Add the deactivations in the database younger than the token lifetime; forget older ones."""
        since = datetime.fromtimestamp(time.time() - self.window, UTC)
        async with self._sessionmaker() as session:
            users = (await session.execute(
                select(User.username, User.deactivated_at).where(User.deactivated_at > since))).all()
            clients = (await session.execute(
                select(Client.client_id, Client.deactivated_at).where(Client.deactivated_at > since))).all()
        for subject, at in users:
            self.note(client=False, subject=subject, at=at.timestamp())
        for subject, at in clients:
            self.note(client=True, subject=subject, at=at.timestamp())
        oldest = since.timestamp()
        for table in (self.users, self.clients):
            for subject in [s for s, at in table.items() if at <= oldest]:
                del table[subject]

    async def run(self) -> None:
        """Refresh every ``refresh_seconds`` until cancelled; a failed refresh is logged and retried."""
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.load()
            except Exception as exc:  # the database may be briefly away: keep what we know
                log.warning("gateway.revocations.refresh_failed", error=type(exc).__name__)


async def wait_past(deactivated_at: datetime | None) -> None:
    """Sleep until the wall-clock second of ``deactivated_at`` is over (at most a second), so a
    token issued afterwards has an ``iat`` after it."""
    if deactivated_at is not None:
        wait = math.floor(deactivated_at.timestamp()) + 1 - time.time()
        if wait > 0:
            await asyncio.sleep(wait)


class RevokingVerifier(TokenVerifier):
    """:class:`shared.auth.TokenVerifier` that also refuses revoked tokens (``token_revoked``).

    The gateway's ``app.state.token_verifier``: the rate limit, the proxy and the gateway's own
    routes (``shared.auth.authenticated``) all verify through it.
    """

    revocations: Revocations | None = None

    async def verify(self, token: str) -> Principal:
        principal = await super().verify(token)
        if self.revocations is not None:
            self.revocations.check(principal)
        return principal
