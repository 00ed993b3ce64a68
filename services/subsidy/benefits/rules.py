"""Monthly amounts of the recurring benefits: pure rules, no I/O, Decimal money.

- R-DB-4 dibao gap (补差), R-DB-5 single-person inclusion (单人保), R-DB-6 gradual exit (渐退期);
- R-TK-2 tekun basic living + care tier (特困供养), R-TK-4 centralized-support fees (集中供养);
- R-OR-1/2 orphan (孤儿) and child-without-care (事实无人抚养儿童) allowances with natural growth;
- R-OA-1 revolutionary veterans' (革命“五老”) allowance with yearly natural growth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.subsidy.common import add_months
from shared.money import round_fen

ZERO = Decimal("0.00")
TWELVE = Decimal(12)
CONTINUING_SCHOOL = ("high_school", "secondary_vocational")


# --- dibao ---------------------------------------------------------------------------------


def dibao_gap(*, standard: Decimal, members: int, net_income_12m: Decimal) -> Decimal:
    """R-DB-4: monthly benefit = standard × members − the household's net monthly income.

    ``net_income_12m`` is the household's net income of the last 12 months (R-DB-2's numerator:
    income − deductible rigid expenditure − employment costs, not below 0); the net monthly income
    is that / 12, kept exact, and only the final amount is rounded half-up to the fen. Never below
    0. R-DB-5 (single-person inclusion) is the same with ``members`` = 1 and the member's own income.
    """
    if members < 1:
        raise ValueError("a dibao benefit covers at least one member")
    exact = standard * members - max(net_income_12m, ZERO) / TWELVE
    return max(round_fen(exact), ZERO)


def implied_net_income_12m(*, standard: Decimal, members: int, monthly_amount: Decimal) -> Decimal:
    """The 12-month net income a decided R-DB-4 amount implies: (standard × members − amount) × 12.

    Used when a decision carries only its amount: re-computing the gap with the standard of a later
    month then gives ``amount + (new standard − old standard) × members``. Never below 0.
    """
    return max((standard * members - monthly_amount) * TWELVE, ZERO)


def gradual_exit_last_month(*, reassessed_month: date, months: int) -> date | None:
    """R-DB-6: the last month paid at the previous benefit after a reassessment above the standard.

    The benefit is kept for the ``months`` (12 for 建档立卡 households; 0 for others) calendar
    months after the reassessment month. Returns that last month, or None when ``months`` is 0
    (exit at once: the reassessment month is the last one paid).
    """
    if months <= 0:
        return None
    return add_months(reassessed_month.replace(day=1), months)


# --- tekun ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TekunAmounts:
    basic: Decimal
    care: Decimal
    level: str

    @property
    def total(self) -> Decimal:
        return self.basic + self.care


def tekun_amounts(*, standard: Decimal, basic_factor: Decimal, care_tiers: Mapping[str, Decimal], level: str | None) -> TekunAmounts:
    """R-TK-2: basic living = factor (1.3) × the monthly dibao standard, rounded half-up to the fen,
    plus the care tier of the person's self-care level (self-care when not yet assessed)."""
    chosen = level if level in care_tiers else "self_care"
    return TekunAmounts(basic=round_fen(basic_factor * standard), care=care_tiers[chosen], level=chosen)


@dataclass(frozen=True)
class CentralizedFees:
    bed: Decimal
    nursing: Decimal
    living: Decimal
    entitlements: Decimal
    district_pays: Decimal

    @property
    def total(self) -> Decimal:
        return self.bed + self.nursing + self.living


def centralized_support_shortfall(*, fees: Mapping[str, Decimal], level: str, entitlements: Decimal) -> CentralizedFees:
    """R-TK-4: for centralized support (集中供养) the government pays bed, nursing (by self-care
    level) and living fees; what the person's entitlements (tekun basic living + care tier, other
    income applied to the fees) do not cover, the district pays (不足部分由区财政托底)."""
    nursing = fees[f"nursing_{level}"] if f"nursing_{level}" in fees else fees["nursing_self_care"]
    total = fees["bed"] + nursing + fees["living"]
    return CentralizedFees(
        bed=fees["bed"], nursing=nursing, living=fees["living"], entitlements=entitlements,
        district_pays=max(total - max(entitlements, ZERO), ZERO),
    )


# --- natural growth: orphans and veterans ---------------------------------------------------


def grown_standard(*, base: Decimal, base_year: int, rate: Decimal, year: int) -> Decimal:
    """R-OR-1 / R-OA-1: a standard with yearly natural growth (自然增长).

    ``base`` is in force in ``base_year``; each later calendar year multiplies it by (1 + rate),
    compounded, rounded half-up to the fen once at the end. Years before the base year get the base.
    """
    years = max(year - base_year, 0)
    return round_fen(base * (Decimal(1) + rate) ** years)


def orphan_allowance_due(*, birth_date: date | None, month: date, enrolment: str | None, adult_age: int) -> bool:
    """R-OR-1: the allowance is paid up to the month the child turns ``adult_age`` (18), and after
    that only while enrolled in high school or secondary vocational school."""
    if birth_date is None:
        return True
    turns_adult = date(birth_date.year + adult_age, birth_date.month, 1)
    return month <= turns_adult or enrolment in CONTINUING_SCHOOL


def child_without_care_top_up(*, allowance: Decimal, already_received: Decimal) -> Decimal:
    """R-OR-2: a child without de-facto care already in dibao, tekun or receiving the living
    subsidy gets only the top-up (补差) to the dispersed-orphan standard: allowance − what the child
    already receives that month (never below 0)."""
    return max(allowance - max(already_received, ZERO), ZERO)


def dibao_share(*, household_amount: Decimal, members: int) -> Decimal:
    """The per-person share of a household dibao benefit (for R-OR-2), rounded half-up to the fen."""
    return round_fen(household_amount / max(members, 1))
