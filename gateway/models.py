"""Tables of the gateway (its own database): users, system clients, signing keys, the clock.

Importing this module also registers the infrastructure tables (outbox, inbox, dead letters,
idempotency records, calendar years) so Alembic sees every table of the gateway's database.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import shared.calendar_store  # noqa: F401 - registers calendar_years
import shared.events.models  # noqa: F401 - registers outbox/inbox/dead letters
import shared.idempotency  # noqa: F401 - registers idempotency_records
from shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


class User(Base):
    """A staff member or a donor who signs in with the password grant.

    ``username`` keeps the case it was created with (it is the tokens' subject) but is unique
    ignoring case (``uq_users_username_lower``): ``ADMIN`` cannot sit beside ``admin``, and signing
    in matches either."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(100))
    roles: Mapped[list[str]] = mapped_column(JSONB)
    town: Mapped[str | None] = mapped_column(String(9))
    village: Mapped[str | None] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # The last deactivation (kept on reactivation): tokens issued before it stay refused
    # (gateway.auth.revocation).
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last lifting of the user's sign-in lock, and by whom (an administrator's subject): every
    # replica forgets the failed sign-ins counted before it (gateway.ratelimit.LoginFailures).
    unlocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unlocked_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


# Declared after the class: the expression needs the column.
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class Client(Base):
    """Another bureau's system, signing in with the client credentials grant."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # As User.deactivated_at.
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class SigningKey(Base):
    """An RS256 key pair. One is ``active`` (signs new tokens); rotated-out keys stay published
    until ``retires_at`` (rotation time + the longest token lifetime), then drop out of the JWKS."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    retires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # At most one active key, even when two replicas create the first key at once.
        Index("uq_signing_keys_one_active", "active", unique=True, postgresql_where=text("active")),
    )


class ClockSetting(Base):
    """The demo/test clock's last setting (one row, id 1), so a restarted gateway keeps it.

    ``anchor`` is the instant set; when ``running`` the clock has advanced since ``set_at``
    (wall time) by the wall time elapsed.
    """

    __tablename__ = "clock_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    anchor: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    running: Mapped[bool] = mapped_column(Boolean)
    revision: Mapped[int] = mapped_column(Integer)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The household assistance chain's projection (gateway/reports), so Alembic sees its tables too.
from gateway.reports import models as _reports  # noqa: E402,F401
