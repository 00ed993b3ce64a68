"""Use cases of users and system clients (keyword-only ``*, uow``).

Errors: 409 ``username_taken`` / ``client_id_taken``; 422 from :func:`check_assignment`; 422
``reserved_username`` for a donor's sign-up under a built-in account's name.
Passwords and secrets are only ever stored as argon2id hashes and never logged.

Usernames are compared ignoring case everywhere (``lower()`` in the database, whose unique index
``uq_users_username_lower`` settles a race of two sign-ups): ``ADMIN`` is taken when ``admin``
exists, and ``Admin`` signs in as ``admin``. The stored name keeps its case (it is the subject of
the user's tokens).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.auth.passwords import generate_secret, hash_secret, verify_secret
from gateway.auth.revocation import Revocations, wait_past
from gateway.auth.schemas import (
    ClientCreate,
    ClientCreated,
    ClientOut,
    DonorRegistration,
    SignInLock,
    UserCreate,
    UserOut,
)
from gateway.auth.users import check_assignment
from gateway.models import Client, User
from gateway.ratelimit import LoginFailures
from shared.auth import DONOR, Principal
from shared.db import UnitOfWork
from shared.errors import Problem, not_found, validation_problem
from shared.pagination import Page, PageParams, make_page

log = structlog.get_logger("gateway.auth")

# Names a donor may not sign up under, in any case: the built-in administrator (``admin``,
# bootstrap.py), the subject of the gateway's own tokens (``gateway``, which the services' audit
# logs show as the actor of clock settings) and the names people read as "the system". A list, not
# a pattern: ``admin2`` or ``nanpu-caseworker`` are ordinary names (staff accounts are created by
# the administrator, who sees the roles; a donor's token never carries staff roles).
RESERVED_USERNAMES = frozenset({"admin", "administrator", "root", "system", "gateway", "superuser"})


def same_username(username: str) -> Any:
    """The condition matching ``username`` ignoring case (served by ``uq_users_username_lower``)."""
    return func.lower(User.username) == func.lower(username)


async def _insert_user(
    uow: UnitOfWork, *, username: str, password: str, display_name: str, roles: list[str],
    town: str | None = None, village: str | None = None,
) -> User:
    user = User(
        username=username, password_hash=await hash_secret(password), display_name=display_name,
        roles=roles, town=town, village=village, active=True,
    )
    uow.session.add(user)
    try:
        await uow.session.flush()
    except IntegrityError:  # the same name ignoring case exists (the index on lower(username))
        raise Problem(409, "username_taken", f"The username {username!r} is taken") from None
    await uow.commit()
    log.info("gateway.user.created", username=username, roles=roles, town=town)
    return user


def _epoch(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def user_out(user: User, failures: LoginFailures | None = None) -> UserOut:
    """The user as the API shows it; with ``failures``, its ``locked_until`` on this replica (after
    forgetting the failures from before the user's last unlock, which may come from another replica)."""
    out = UserOut.model_validate(user, from_attributes=True)
    if failures is not None:
        failures.apply_unlock(user.username, _epoch(user.unlocked_at))
        until = failures.locked_until(user.username)
        out.locked_until = None if until is None else datetime.fromtimestamp(until, UTC)
    return out


async def create_user(data: UserCreate, *, failures: LoginFailures | None = None, uow: UnitOfWork) -> UserOut:
    """A staff user (district_admin's ``POST /api/v1/admin/users``)."""
    town, village = check_assignment(data.roles, data.town, data.village)
    async with uow:
        user = await _insert_user(
            uow, username=data.username, password=data.password, display_name=data.display_name,
            roles=data.roles, town=town, village=village,
        )
    return user_out(user, failures)


async def register_donor(data: DonorRegistration, *, uow: UnitOfWork) -> UserOut:
    """A donor's own sign-up: role donor only, no town. 409 ``username_taken`` (ignoring case),
    422 ``reserved_username`` (:data:`RESERVED_USERNAMES`)."""
    if data.username.lower() in RESERVED_USERNAMES:
        raise validation_problem(
            [{"field": "username", "code": "reserved_username", "message": "this name is reserved"}],
            "The username is reserved",
        )
    async with uow:
        user = await _insert_user(
            uow, username=data.username, password=data.password, display_name=data.display_name, roles=[DONOR]
        )
    return user_out(user)


async def list_users(page: PageParams, *, failures: LoginFailures | None = None, uow: UnitOfWork) -> Page[UserOut]:
    """Users by username (keyset pagination), with ``locked_until`` when ``failures`` is given."""
    async with uow:
        query = select(User).order_by(User.username).limit(page.limit + 1)
        if page.after:
            query = query.where(User.username > str(page.after[0]))
        rows = [user_out(u, failures) for u in (await uow.session.scalars(query)).all()]
    return make_page(rows, page.limit, key=lambda u: [u.username])


async def create_client(data: ClientCreate, *, uow: UnitOfWork) -> ClientCreated:
    """A system client; the answer holds its secret, which is not retrievable afterwards."""
    client_id = data.client_id or f"client-{secrets.token_hex(6)}"
    secret = generate_secret(32)
    async with uow:
        client = Client(client_id=client_id, secret_hash=await hash_secret(secret), name=data.name, scopes=data.scopes, active=True)
        uow.session.add(client)
        try:
            await uow.session.flush()
        except IntegrityError:
            raise Problem(409, "client_id_taken", f"The client id {client_id!r} is taken") from None
        await uow.commit()
    log.info("gateway.client.created", client_id=client_id, scopes=data.scopes)
    out = ClientOut.model_validate(client, from_attributes=True)
    return ClientCreated(**out.model_dump(), client_secret=secret)


async def _set_active(
    account: User | Client, active: bool, *, kind: str, key: dict[str, str], revocations: Revocations, uow: UnitOfWork,
) -> None:
    """Deactivate (the time noted at once in ``revocations``) or reactivate ``account``; a no-op
    when it already is so. Logs ``gateway.<kind>.deactivated`` / ``.reactivated`` with ``key``."""
    if account.active == active:
        return
    if active:
        await wait_past(account.deactivated_at)  # the next sign-in's iat must be after it
        account.active = True
    else:
        now = time.time()
        account.active = False
        account.deactivated_at = datetime.fromtimestamp(now, UTC)
    await uow.commit()
    if not active:
        revocations.note(client=isinstance(account, Client), subject=_subject(account), at=now)
    log.info(f"gateway.{kind}.{'reactivated' if active else 'deactivated'}", **key)


def _subject(account: User | Client) -> str:
    return account.client_id if isinstance(account, Client) else account.username


async def set_user_active(
    username: str, active: bool, *, by: Principal, revocations: Revocations,
    failures: LoginFailures | None = None, uow: UnitOfWork,
) -> UserOut:
    """Deactivate or reactivate a staff user or donor (``username`` ignoring case). 404
    ``not_found``; 409 ``cannot_deactivate_self`` for the caller's own account. A deactivated user
    gets no token and the ones it holds are refused (``token_revoked``); the log line carries the
    user's id, never the name (a donor's username may be a phone number)."""
    async with uow:
        user = await uow.session.scalar(select(User).where(same_username(username)).with_for_update())
        if user is None:
            raise not_found("user")
        if not active and not by.client and user.username == by.subject:
            raise Problem(409, "cannot_deactivate_self", "You cannot deactivate your own account")
        await _set_active(user, active, kind="user", key={"user_id": str(user.id), "by": by.subject},
                          revocations=revocations, uow=uow)
        return user_out(user, failures)


async def unlock_user(username: str, *, by: Principal, failures: LoginFailures, uow: UnitOfWork) -> SignInLock:
    """Lift the sign-in lock of a staff user or donor (``username`` ignoring case): forget its failed
    password sign-ins so far, at once on this replica and, through the row's ``unlocked_at``, on
    every other one the next time it would refuse the user. Idempotent: a user who is not locked
    is unlocked all the same (and the unlock recorded). 404 ``not_found``.

    Records ``unlocked_at`` / ``unlocked_by`` (the administrator's subject) on the user and logs
    ``gateway.user.unlocked`` with the user's id (never the name: a donor's username may be a
    phone number) and whether this replica had it locked. The per-IP limit stays as it is: it
    keys an address, not an account, and is shared by every account tried from it."""
    async with uow:
        user = await uow.session.scalar(select(User).where(same_username(username)).with_for_update())
        if user is None:
            raise not_found("user")
        failures.apply_unlock(user.username, _epoch(user.unlocked_at))
        was_locked = failures.blocked_for(user.username) is not None
        user.unlocked_at = datetime.fromtimestamp(failures.wall(), UTC)
        user.unlocked_by = by.subject
        await uow.commit()
        failures.forget(user.username)
        log.info("gateway.user.unlocked", user_id=str(user.id), by=by.subject, was_locked=was_locked)
        until = failures.locked_until(user.username)  # None, unless a failure raced the unlock
        return SignInLock(
            username=user.username, locked=until is not None,
            locked_until=None if until is None else datetime.fromtimestamp(until, UTC),
            failed_attempts=failures.failures(user.username), unlocked_at=user.unlocked_at, unlocked_by=by.subject,
        )


async def unlocked_at(username: str, *, uow: UnitOfWork) -> float | None:
    """The user's last unlock (epoch seconds), or None (never unlocked, or no such user)."""
    async with uow:
        return _epoch(await uow.session.scalar(select(User.unlocked_at).where(same_username(username))))


async def set_client_active(
    client_id: str, active: bool, *, by: Principal, revocations: Revocations, uow: UnitOfWork,
) -> ClientOut:
    """Deactivate or reactivate a system client. 404 ``not_found``. A deactivated client gets no
    token (``invalid_client``) and the ones it holds are refused (``token_revoked``)."""
    async with uow:
        client = await uow.session.scalar(select(Client).where(Client.client_id == client_id).with_for_update())
        if client is None:
            raise not_found("client")
        await _set_active(client, active, kind="client", key={"client_id": client.client_id, "by": by.subject},
                          revocations=revocations, uow=uow)
        return ClientOut.model_validate(client, from_attributes=True)


@dataclass(frozen=True)
class Account:
    """What a token needs of a user or client (read inside the unit of work: leaving it without a
    commit rolls back, which expires ORM instances)."""

    subject: str
    name: str
    roles: list[str]
    scopes: list[str]
    town: str | None = None
    village: str | None = None


async def authenticate_user(username: str, password: str, *, uow: UnitOfWork) -> Account | None:
    """The active user with these credentials, or None (the same work whether or not it exists)."""
    async with uow:
        user = await uow.session.scalar(select(User).where(same_username(username)))
        stored = user.password_hash if user is not None else None
        account = None
        if user is not None and user.active:
            account = Account(user.username, user.display_name, list(user.roles), [], user.town, user.village)
    ok = await verify_secret(stored, password)
    return account if ok else None


async def authenticate_client(client_id: str, secret: str, *, uow: UnitOfWork) -> Account | None:
    """The active client with these credentials, or None."""
    async with uow:
        client = await uow.session.scalar(select(Client).where(Client.client_id == client_id))
        stored = client.secret_hash if client is not None else None
        account = None
        if client is not None and client.active:
            account = Account(client.client_id, client.name, [], list(client.scopes))
    ok = await verify_secret(stored, secret)
    return account if ok else None
