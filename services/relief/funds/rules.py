"""Approval tiers and reserve funds of temporary relief: pure policy functions (no I/O).

Amounts are ``Decimal`` yuan in whole fen. Thresholds come in as arguments (versioned parameters
``town_approval_limit`` and ``case_cap``), never as constants here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Approver = Literal["town", "district"]
Refusal = Literal["invalid_amount", "over_case_cap", "reserve_insufficient"]
FEN = Decimal("0.01")


@dataclass(frozen=True)
class Route:
    """Who approves a relief amount, or why it cannot be granted.

    ``approver``: ``"town"`` (镇/街道 approves and pays from its reserve) or ``"district"``;
    ``refused``: ``invalid_amount``, ``over_case_cap`` or ``reserve_insufficient`` (then
    ``approver`` is the tier that would have approved, or None for an amount refused outright).
    ``steps`` explains the decision, each step citing its rule.
    """

    approver: Approver | None
    refused: Refusal | None
    rules: tuple[str, ...]
    steps: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.refused is None


def approval_tier(amount: Decimal, *, town_limit: Decimal, case_cap: Decimal) -> Route:
    """R-TR-3 approval tiers (分级审批): who approves ``amount`` yuan.

    ``amount`` ≤ ``town_limit`` (3,000): the town; ``town_limit`` < ``amount`` ≤ ``case_cap``
    (5,000): the district; above the cap: refused ``over_case_cap``. An amount that is not a
    positive whole number of fen is refused ``invalid_amount``. Both bounds are inclusive
    ("3000元（含）以下", "单笔5000元（含）").
    """
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(FEN):
        return Route(None, "invalid_amount", ("R-TR-3",), (f"amount {amount} is not a positive whole number of fen",))
    if amount > case_cap:
        return Route(None, "over_case_cap", ("R-TR-3",), (f"{amount:.2f} > case cap {case_cap:.2f}: refused (R-TR-3)",))
    if amount <= town_limit:
        return Route("town", None, ("R-TR-3",), (f"{amount:.2f} ≤ {town_limit:.2f}: the town approves and pays from its reserve (R-TR-3)",))
    return Route("district", None, ("R-TR-3",), (f"{town_limit:.2f} < {amount:.2f} ≤ {case_cap:.2f}: the district approves (R-TR-3)",))


def approval_route(amount: Decimal, *, town_limit: Decimal, case_cap: Decimal, reserve_left: Decimal) -> Route:
    """R-TR-3 + R-TR-4: the tier of ``amount`` and, for the town tier, whether the town's reserve
    left for the year (``reserve_left`` yuan) covers it — a town payment never drives the reserve
    below zero, so an amount above what is left is refused ``reserve_insufficient``. District
    payments do not draw on a town's reserve."""
    tier = approval_tier(amount, town_limit=town_limit, case_cap=case_cap)
    if not tier.allowed or tier.approver == "district":
        return tier
    if amount > reserve_left:
        return Route(
            "town", "reserve_insufficient", ("R-TR-3", "R-TR-4"),
            (*tier.steps, f"reserve left {reserve_left:.2f} < {amount:.2f}: a town payment never drives its reserve below zero (R-TR-4)"),
        )
    return Route(
        "town", None, ("R-TR-3", "R-TR-4"),
        (*tier.steps, f"reserve left {reserve_left:.2f} ≥ {amount:.2f}: payable (R-TR-4)"),
    )


class ReserveInsufficient(ValueError):
    """A reserve payment larger than the balance (R-TR-4); ``code`` = reserve_insufficient."""

    code = "reserve_insufficient"

    def __init__(self, balance: Decimal, amount: Decimal) -> None:
        super().__init__(f"reserve left {balance:.2f} yuan does not cover {amount:.2f} yuan")
        self.balance = balance
        self.amount = amount


def balance_after_payment(balance: Decimal, amount: Decimal) -> Decimal:
    """R-TR-4: the reserve balance after paying ``amount`` (> 0) from ``balance``; raises
    :class:`ReserveInsufficient` rather than go below zero, ValueError for amount ≤ 0."""
    if amount <= 0:
        raise ValueError("a payment must be positive")
    if amount > balance:
        raise ReserveInsufficient(balance, amount)
    return balance - amount


def usage_rate(paid: Decimal, allocated: Decimal) -> Decimal | None:
    """R-TR-4 KPI (临时救助资金使用率): paid / allocated (allocation plus top-ups) of one town and
    year, as a ratio rounded half-up to 4 places (``0.9250`` = 92.50 %); None when nothing was
    allocated. Never above 1, since a reserve never goes below zero."""
    if allocated <= 0:
        return None
    return (paid / allocated).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def meets_usage_target(rate: Decimal | None, target: Decimal) -> bool | None:
    """R-TR-4: whether a usage ``rate`` reaches ``target`` (0.90); None without a rate."""
    return None if rate is None else rate >= target
