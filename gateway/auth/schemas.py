"""Request and response bodies of the auth endpoints (pydantic).

A refused field carries a stable code (the problem's ``errors[].code``): ``invalid_username``,
``password_too_short`` (< 8 characters), ``password_too_long`` (> 256), ``unknown_role``,
``unknown_scope``, ``invalid_client_id``; pydantic's own codes otherwise (``missing``,
``string_too_long``, ``extra_forbidden`` …).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from gateway.auth.passwords import MIN_PASSWORD_LENGTH
from shared.auth import ROLES, SCOPES

MAX_PASSWORD_LENGTH = 256
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}")
_CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{2,63}")


class FieldError(ValueError):
    """A validator's refusal with a stable ``code`` (picked up by shared.errors)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _check_password(value: str) -> str:
    if len(value) < MIN_PASSWORD_LENGTH:
        raise FieldError("password_too_short", f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise FieldError("password_too_long", f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return value


def _check_username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise FieldError("invalid_username", "3–64 letters, digits or _ . @ -, starting with a letter or digit")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class DonorRegistration(_Strict):
    """``POST /oauth/register``: a donor's own sign-up."""

    username: str
    password: str
    display_name: str = Field(min_length=1, max_length=100)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        return _check_username(value)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        return _check_password(value)

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        if not value.strip():
            raise FieldError("blank", "the display name is blank")
        return value.strip()


class UserCreate(DonorRegistration):
    """``POST /api/v1/admin/users``. ``town`` (9-digit code) is required for town_approver,
    town_caseworker and village_officer; ``village`` (12-digit code) for village_officer."""

    roles: list[str] = Field(min_length=1, max_length=len(ROLES))
    town: str | None = None
    village: str | None = None

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in ROLES]
        if unknown:
            raise FieldError("unknown_role", f"unknown role(s): {', '.join(unknown)}; known: {', '.join(ROLES)}")
        return sorted(set(value), key=ROLES.index)


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    roles: list[str]
    town: str | None
    village: str | None
    active: bool
    # The last deactivation (kept after a reactivation: tokens issued before it stay refused).
    deactivated_at: datetime | None = None
    # Until when this gateway replica refuses the user's sign-in after too many failed ones (null:
    # not locked); the last lifting of such a lock by an administrator, and by whom.
    locked_until: datetime | None = None
    unlocked_at: datetime | None = None
    unlocked_by: str | None = None
    created_at: datetime


class SignInLock(BaseModel):
    """``POST /api/v1/admin/users/{username}:unlock``: the user's sign-in lock after the unlock,
    as the replica that served it sees it (``locked`` false, ``locked_until`` null,
    ``failed_attempts`` 0), and the unlock recorded on the user."""

    username: str
    locked: bool
    locked_until: datetime | None
    failed_attempts: int
    unlocked_at: datetime
    unlocked_by: str


class ClientCreate(_Strict):
    """``POST /api/v1/admin/clients``; ``client_id`` is generated when omitted."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=len(SCOPES))
    client_id: str | None = None

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in SCOPES]
        if unknown:
            raise FieldError("unknown_scope", f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}")
        return sorted(set(value), key=SCOPES.index)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and not _CLIENT_ID.fullmatch(value):
            raise FieldError("invalid_client_id", "3–64 lower-case letters, digits, _ or -")
        return value


class ClientOut(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    active: bool
    deactivated_at: datetime | None = None
    created_at: datetime


class AccountUpdate(_Strict):
    """``PATCH /api/v1/admin/users/{username}`` and ``…/clients/{client_id}``: ``{"active": false}``
    deactivates the account, ``{"active": true}`` reactivates it (a JSON boolean, nothing else)."""

    active: StrictBool


class ClientCreated(ClientOut):
    """The new client, with its secret: shown this once, stored only as a hash."""

    client_secret: str


class TokenResponse(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str | None = None


class KeyRotation(BaseModel):
    kid: str
    previous_kid: str | None
    previous_retires_at: datetime
