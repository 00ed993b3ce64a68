"""Price subsidy use cases: evaluate a month (calculator), CPI intake, stored months."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select

from services.subsidy.common import Trace, add_months, format_month
from services.subsidy.parameters.service import Params, params_on
from services.subsidy.price import rules
from services.subsidy.price.models import CpiFigure
from shared.auth import Principal
from shared.calendar import TZ, working_day_deadline
from shared.calendar_store import load_calendar
from shared.clock import local_today
from shared.db import UnitOfWork

log = structlog.get_logger("subsidy.price")

# R-PS-3 categories (parameter values) → roster benefit categories.
BENEFIT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "dibao": ("dibao", "dibao_single_person"),
    "tekun": ("tekun",),
    "revolutionary_veteran": ("revolutionary_veteran",),
    "orphan": ("orphan_institutional", "orphan_dispersed"),
    "child_without_care": ("child_without_care",),
}


def price_params(params: Params) -> rules.PriceParams:
    return rules.PriceParams(
        dibao_standard=params.value("dibao_standard"),
        cpi_trigger=params.value("price_cpi_trigger"),
        food_cpi_trigger=params.value("price_food_cpi_trigger"),
        multiplier=params.value("price_multiplier"),
        min_amount=params.value("price_min_amount"),
        categories=params.value("price_categories"),
    )


@dataclass(frozen=True)
class Evaluation:
    result: rules.PriceResult
    payments_for_person: int | None
    trace: Trace


async def evaluate(
    *, uow: UnitOfWork, month: date, cpi_yoy_pct: Decimal, food_cpi_yoy_pct: Decimal,
    person_categories: list[str] | None = None,
) -> Evaluation:
    """R-PS-1..3 for ``month`` with the parameters in force on its first day; stores nothing.

    Raises 422 ``parameter_missing`` when a parameter has no version for that month.
    """
    params = await params_on(uow.session, month)
    p = price_params(params)
    result = rules.price_subsidy(cpi_yoy_pct, food_cpi_yoy_pct, p)
    trace = Trace(rule_ids=["R-PS-1", "R-PS-2"])
    trace.inputs = {"month": format_month(month), "cpi_yoy_pct": str(cpi_yoy_pct), "food_cpi_yoy_pct": str(food_cpi_yoy_pct)}
    trace.figures = {
        "dibao_standard": f"{p.dibao_standard:.2f}",
        "triggered_by": list(result.triggered_by),
        "base_amount": f"{result.base_amount:.2f}",
        "multiplier": str(p.multiplier),
        "amount_per_person": f"{result.amount_per_person:.2f}",
    }
    trace.steps.append(
        f"CPI {cpi_yoy_pct}% vs trigger {p.cpi_trigger}%, food CPI {food_cpi_yoy_pct}% vs {p.food_cpi_trigger}%: "
        + ("triggered by " + " and ".join(result.triggered_by) if result.triggered else "not triggered")
    )
    if result.triggered:
        trace.steps.append(
            f"{p.dibao_standard:.2f} × {cpi_yoy_pct}% = {result.base_amount:.2f} (half-up to the fen)"
            + (f", × {p.multiplier} = {result.amount_per_person:.2f}" if p.multiplier != 1 else "")
        )
    payments = None
    if person_categories is not None:
        trace.rule("R-PS-3")
        trace.inputs["person_categories"] = list(person_categories)
        payments = rules.payments_for_person(person_categories, result)
        trace.steps.append(f"categories {sorted(set(person_categories))}: {payments} payment(s) this month")
    trace.parameters = params.trace()
    return Evaluation(result, payments, trace)


# --- CPI intake --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpiRow:
    month: date
    cpi_yoy_pct: Decimal
    food_cpi_yoy_pct: Decimal
    released_on: date | None
    checked: bool


async def current_figure(uow: UnitOfWork, month: date) -> CpiFigure | None:
    return await uow.session.scalar(
        select(CpiFigure).where(CpiFigure.month == month, CpiFigure.superseded_at.is_(None))
    )


async def ingest(*, uow: UnitOfWork, principal: Principal, rows: list[CpiRow], source: str | None) -> dict[str, int]:
    """Store the CPI figures of ``rows`` (validated; months with a price run already left out by the
    caller): a changed figure supersedes the current one, an identical one is left as is. Returns
    counts ``created``, ``revised``, ``unchanged``. Emits ``subsidy.cpi.received`` per created or
    revised month (R-PS-1).
    """
    now = uow.now()
    today = local_today(uow.clock)
    counts = {"created": 0, "revised": 0, "unchanged": 0}
    for row in rows:
        current = await current_figure(uow, row.month)
        released_on = row.released_on or today
        if current is not None:
            if (current.cpi_yoy_pct, current.food_cpi_yoy_pct, current.checked) == (row.cpi_yoy_pct, row.food_cpi_yoy_pct, row.checked):
                counts["unchanged"] += 1
                continue
            current.superseded_at = now
            await uow.session.flush()
            counts["revised"] += 1
        else:
            counts["created"] += 1
        uow.session.add(CpiFigure(
            month=row.month, cpi_yoy_pct=row.cpi_yoy_pct, food_cpi_yoy_pct=row.food_cpi_yoy_pct,
            released_on=released_on, checked=row.checked, source=source, received_at=now, received_by=principal.subject,
        ))
        uow.emit("subsidy.cpi.received", {
            "month": format_month(row.month), "cpi_yoy_pct": str(row.cpi_yoy_pct),
            "food_cpi_yoy_pct": str(row.food_cpi_yoy_pct), "released_on": released_on, "checked": row.checked,
        }, subject=format_month(row.month))
    await uow.session.flush()
    log.info("subsidy.cpi.ingested", **counts)
    return counts


async def pay_by(uow: UnitOfWork, released_on: date, working_days: int) -> tuple[date, bool]:
    """R-PS-1: the date by which the month's subsidy is paid (``working_days`` working days after
    the index's release) and whether it is provisional (a year without an official calendar)."""
    calendar = await load_calendar(uow.session)
    deadline = working_day_deadline(datetime.combine(released_on, time(12), tzinfo=TZ), working_days, calendar)
    return deadline.deadline_date, deadline.provisional


async def month_view(uow: UnitOfWork, figure: CpiFigure) -> dict[str, Any]:
    """A stored month with its verdict (R-PS-1/2) and payment deadline."""
    evaluation = await evaluate(uow=uow, month=figure.month, cpi_yoy_pct=figure.cpi_yoy_pct,
                                food_cpi_yoy_pct=figure.food_cpi_yoy_pct)
    params = await params_on(uow.session, figure.month)
    days = params.value("price_payment_working_days")
    due, provisional = await pay_by(uow, figure.released_on, days)
    return {
        "month": figure.month,
        "cpi_yoy_pct": figure.cpi_yoy_pct,
        "food_cpi_yoy_pct": figure.food_cpi_yoy_pct,
        "released_on": figure.released_on,
        "checked": figure.checked,
        "triggered": evaluation.result.triggered,
        "triggered_by": list(evaluation.result.triggered_by),
        "amount_per_person": evaluation.result.amount_per_person,
        "covers": list(evaluation.result.covers),
        "pay_by": due,
        "pay_by_provisional": provisional,
        "received_at": figure.received_at,
        "trace": evaluation.trace.as_dict(),
    }


def next_month(month: date) -> date:
    return add_months(month, 1)
