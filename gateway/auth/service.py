"""Use cases of users and system clients (keyword-only ``*, uow``).

Errors: 409 ``username_taken`` / ``client_id_taken``; 422 from :func:`check_assignment`.
Passwords and secrets are only ever stored as argon2id hashes and never logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.auth.passwords import generate_secret, hash_secret, verify_secret
from gateway.auth.schemas import ClientCreate, ClientCreated, ClientOut, DonorRegistration, UserCreate, UserOut
from gateway.auth.users import check_assignment
from gateway.models import Client, User
from shared.auth import DONOR
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.pagination import Page, PageParams, make_page

log = structlog.get_logger("gateway.auth")


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
    except IntegrityError:
        raise Problem(409, "username_taken", f"The username {username!r} is taken") from None
    await uow.commit()
    log.info("gateway.user.created", username=username, roles=roles, town=town)
    return user


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


async def create_user(data: UserCreate, *, uow: UnitOfWork) -> UserOut:
    """A staff user (district_admin's ``POST /api/v1/admin/users``)."""
    town, village = check_assignment(data.roles, data.town, data.village)
    async with uow:
        user = await _insert_user(
            uow, username=data.username, password=data.password, display_name=data.display_name,
            roles=data.roles, town=town, village=village,
        )
    return user_out(user)


async def register_donor(data: DonorRegistration, *, uow: UnitOfWork) -> UserOut:
    """A donor's own sign-up: role donor only, no town."""
    async with uow:
        user = await _insert_user(
            uow, username=data.username, password=data.password, display_name=data.display_name, roles=[DONOR]
        )
    return user_out(user)


async def list_users(page: PageParams, *, uow: UnitOfWork) -> Page[UserOut]:
    """Users by username (keyset pagination)."""
    async with uow:
        query = select(User).order_by(User.username).limit(page.limit + 1)
        if page.after:
            query = query.where(User.username > str(page.after[0]))
        rows = [user_out(u) for u in (await uow.session.scalars(query)).all()]
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
        user = await uow.session.scalar(select(User).where(User.username == username))
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
