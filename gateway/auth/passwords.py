"""Argon2id password and client-secret hashing (argon2-cffi), run off the event loop.

A hash costs tens of milliseconds of CPU on purpose, so both calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
# OWASP's recommended argon2id minimum (19 MiB, 2 passes, 1 lane); settings may raise it.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when the user is unknown, so the answer takes as long as for a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def configure(*, time_cost: int, memory_kib: int, parallelism: int = 1) -> None:
    """Set the cost of new hashes (process-wide). Existing hashes keep verifying: each carries
    its own parameters."""
    global _hasher, _DUMMY_HASH
    if (time_cost, memory_kib, parallelism) == (_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_secret(secret: str) -> str:
    """The argon2id hash (PHC string) of ``secret``."""
    return await asyncio.to_thread(_hasher.hash, secret)


async def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """Whether ``secret`` matches ``stored_hash``; ``None`` (unknown user) is checked against a
    dummy hash and is always False."""

    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, secret) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def generate_secret(nbytes: int = 24) -> str:
    """A random URL-safe secret (client secrets, generated admin passwords)."""
    return secrets.token_urlsafe(nbytes)
