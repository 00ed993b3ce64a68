"""Use cases of the reserve funds (备用金, R-TR-4) and the approval-route calculator (R-TR-3/4)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.relief.funds.models import ReserveAccount, ReserveEntry
from services.relief.funds.rules import (
    ReserveInsufficient,
    Route,
    approval_route,
    balance_after_payment,
    meets_usage_target,
    usage_rate,
)
from services.relief.parameters.rules import PolicySet
from services.relief.parameters.service import policy_on
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.money import format_yuan

log = structlog.get_logger("relief.funds")

ZERO = Decimal("0.00")


async def reserve_left(session: AsyncSession, town: str, year: int) -> Decimal:
    """Yuan left in ``town``'s reserve for ``year`` (0.00 when nothing was allocated)."""
    balance = await session.scalar(
        select(ReserveAccount.balance).where(ReserveAccount.town == town, ReserveAccount.year == year)
    )
    return balance if balance is not None else ZERO


async def _locked_account(uow: UnitOfWork, town: str, year: int) -> ReserveAccount:
    """The account row of ``town``/``year``, created empty if missing, locked FOR UPDATE."""
    await uow.session.execute(
        insert(ReserveAccount)
        .values(town=town, year=year, updated_at=uow.now())
        .on_conflict_do_nothing(index_elements=["town", "year"])
    )
    account = await uow.session.scalar(
        select(ReserveAccount)
        .where(ReserveAccount.town == town, ReserveAccount.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert account is not None
    return account


async def book_funding(
    *,
    uow: UnitOfWork,
    principal: Principal,
    town: str,
    year: int,
    kind: str,
    amount: Decimal,
    reference: str | None,
    note: str | None,
) -> ReserveEntry:
    """Book the year's ``allocation`` (once per town and year) or a ``top_up`` (R-TR-4), in yuan.

    Raises Problem 409 ``already_allocated`` for a second allocation. The balance row is locked,
    so concurrent bookings serialise.
    """
    account = await _locked_account(uow, town, year)
    if kind == "allocation":
        if account.allocated > 0:
            raise Problem(409, "already_allocated", f"The {year} reserve of town {town} is already allocated; book a top-up instead")
        account.allocated += amount
    else:
        account.topped_up += amount
    account.balance += amount
    account.updated_at = uow.now()
    entry = ReserveEntry(
        town=town, year=year, kind=kind, amount=amount, balance_after=account.balance, case_id=None,
        reference=reference, note=note, booked_at=uow.now(), booked_by=principal.subject,
    )
    uow.session.add(entry)
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Problem(409, "already_allocated", f"The {year} reserve of town {town} is already allocated") from None
    log.info("relief.reserve.booked", town=town, year=year, kind=kind, amount=format_yuan(amount))
    return entry


async def pay_from_reserve(
    *, uow: UnitOfWork, town: str, year: int, amount: Decimal, case_id: uuid.UUID, reference: str, by: str
) -> ReserveEntry:
    """Debit ``amount`` yuan of relief case ``case_id`` from ``town``'s ``year`` reserve (R-TR-4).

    The account row is locked; a payment larger than the balance raises Problem 409
    ``reserve_insufficient`` (and the CHECK constraint ``balance >= 0`` refuses it in any case).
    """
    account = await _locked_account(uow, town, year)
    try:
        new_balance = balance_after_payment(account.balance, amount)
    except ReserveInsufficient as exc:
        raise Problem(
            409, "reserve_insufficient",
            f"Town {town}'s {year} reserve has {format_yuan(exc.balance)} yuan left, less than {format_yuan(amount)} (R-TR-4)",
            reserve_left=format_yuan(exc.balance),
        ) from None
    account.paid += amount
    account.balance = new_balance
    account.updated_at = uow.now()
    entry = ReserveEntry(
        town=town, year=year, kind="payment", amount=amount, balance_after=new_balance, case_id=case_id,
        reference=reference, note=None, booked_at=uow.now(), booked_by=by,
    )
    uow.session.add(entry)
    await uow.session.flush()
    return entry


async def get_account(session: AsyncSession, town: str, year: int) -> ReserveAccount | None:
    return await session.scalar(select(ReserveAccount).where(ReserveAccount.town == town, ReserveAccount.year == year))


async def list_accounts(session: AsyncSession, *, year: int, towns: Sequence[str] | None) -> dict[str, ReserveAccount]:
    """The accounts of ``year`` by town (only ``towns`` when given)."""
    query = select(ReserveAccount).where(ReserveAccount.year == year)
    if towns is not None:
        query = query.where(ReserveAccount.town.in_(list(towns)))
    return {a.town: a for a in (await session.scalars(query)).all()}


async def list_entries(
    session: AsyncSession, *, town: str, year: int, limit: int, after_id: int | None
) -> list[ReserveEntry]:
    """Ledger lines of one account, oldest first (``limit + 1`` rows for pagination)."""
    query = (
        select(ReserveEntry)
        .where(ReserveEntry.town == town, ReserveEntry.year == year)
        .order_by(ReserveEntry.id)
        .limit(limit + 1)
    )
    if after_id is not None:
        query = query.where(ReserveEntry.id > after_id)
    return list((await session.scalars(query)).all())


def usage(account: ReserveAccount | None, policy: PolicySet) -> dict[str, object]:
    """R-TR-4 usage figures of one account: allocated total, paid, rate, target, met."""
    allocated = (account.allocated + account.topped_up) if account else ZERO
    paid = account.paid if account else ZERO
    rate = usage_rate(paid, allocated)
    return {
        "allocated_total": allocated,
        "paid": paid,
        "usage_rate": rate,
        "usage_target": policy.reserve_usage_target,
        "meets_target": meets_usage_target(rate, policy.reserve_usage_target),
    }


async def evaluate_route(
    *, session: AsyncSession, clock_today: date, amount: Decimal, town: str, reserve_left_what_if: Decimal | None, on: date | None
) -> tuple[Route, dict[str, object]]:
    """R-TR-3/4 calculator: who approves ``amount`` yuan in ``town``, storing nothing.

    The reserve is the town's balance left for the year of ``on`` (default: the clock's today in
    Asia/Shanghai) unless ``reserve_left_what_if`` is given. Returns the route and its trace
    (inputs, parameter versions, figures, rule ids).
    """
    day = on or clock_today
    policy = await policy_on(session, day)
    if reserve_left_what_if is not None:
        left, source = reserve_left_what_if, "what_if"
    else:
        left, source = await reserve_left(session, town, day.year), "ledger"
    route = approval_route(amount, town_limit=policy.town_approval_limit, case_cap=policy.case_cap, reserve_left=left)
    trace = {
        "rule_ids": list(route.rules),
        "inputs": {"amount": format_yuan(amount), "town": town, "on": day.isoformat(),
                   "reserve_left": format_yuan(reserve_left_what_if) if reserve_left_what_if is not None else None},
        "parameters": policy.used("town_approval_limit", "case_cap"),
        "figures": {"town_approval_limit": format_yuan(policy.town_approval_limit), "case_cap": format_yuan(policy.case_cap),
                    "reserve_year": day.year, "reserve_left": format_yuan(left), "reserve_source": source},
        "steps": list(route.steps),
    }
    return route, trace

