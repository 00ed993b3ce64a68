"""The first administrator: user ``admin`` with role district_admin.

``python -m gateway.bootstrap`` (after migrations) reads ``GATEWAY_DATABASE_URL`` and
``ADMIN_PASSWORD``; it creates ``admin`` if missing, with that password or a generated one, and
prints the credential once (exit 0 either way; nothing printed when ``admin`` already existed).
"""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth.passwords import MIN_PASSWORD_LENGTH, generate_secret, hash_secret
from gateway.models import User
from shared.auth import DISTRICT_ADMIN

ADMIN_USERNAME = "admin"


async def ensure_admin(session_factory: async_sessionmaker[AsyncSession], password: str | None) -> str | None:
    """Create ``admin`` (district_admin) unless it exists; returns its password only if created.

    ``password`` None or empty: one is generated. Raises ValueError for a password shorter than
    8 characters (the rule every user's password follows).
    """
    async with session_factory() as session:
        if await session.scalar(select(User.id).where(func.lower(User.username) == ADMIN_USERNAME)) is not None:
            return None
    password = password or generate_secret(18)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"ADMIN_PASSWORD must have at least {MIN_PASSWORD_LENGTH} characters")
    user = User(
        username=ADMIN_USERNAME, password_hash=await hash_secret(password), display_name="Administrator",
        roles=[DISTRICT_ADMIN], active=True,
    )
    async with session_factory() as session:
        session.add(user)
        try:
            await session.commit()
        except IntegrityError:  # another process created it meanwhile
            return None
    return password


async def _main() -> int:
    from shared.db import make_engine, make_sessionmaker

    url = os.environ.get("GATEWAY_DATABASE_URL")
    if not url:
        print("set GATEWAY_DATABASE_URL", file=sys.stderr)
        return 2
    engine = make_engine(url, pool_size=1)
    try:
        password = await ensure_admin(make_sessionmaker(engine), os.environ.get("ADMIN_PASSWORD"))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    if password is not None:
        # The one place a credential is shown: on the operator's terminal, never in a log.
        print(f"administrator: {ADMIN_USERNAME}  password: {password}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
