"""Wire shapes of the price subsidy API (R-PS)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.subsidy.common import Month, Percent
from shared.money import Yuan
from shared.timestamps import BusinessDate

PriceCategory = Literal["dibao", "tekun", "revolutionary_veteran", "orphan", "child_without_care"]


class PriceEvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month
    cpi_yoy_pct: Percent
    food_cpi_yoy_pct: Percent
    person_categories: list[PriceCategory] | None = Field(
        None, max_length=10, description="a person's categories: how many payments they get that month (R-PS-3)")


class PriceEvaluateOut(BaseModel):
    month: Month
    triggered: bool
    triggered_by: list[Literal["cpi", "food_cpi"]]
    amount_per_person: Yuan
    covers: list[str]
    payments_for_person: int | None = None
    trace: dict[str, Any]


class CpiRowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Month
    cpi_yoy_pct: Percent
    food_cpi_yoy_pct: Percent
    released_on: BusinessDate | None = Field(None, description="the index's release date (default: the day received)")
    checked: bool = Field(True, description="false: a figure not yet re-checked against the release")


class CpiIntakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[CpiRowIn] = Field(min_length=1, max_length=600)
    source: str | None = Field(None, max_length=200)


class CpiIntakeOut(BaseModel):
    created: int
    revised: int
    unchanged: int


class CpiMonthOut(BaseModel):
    month: Month
    cpi_yoy_pct: Percent
    food_cpi_yoy_pct: Percent
    released_on: date
    checked: bool
    triggered: bool
    triggered_by: list[str]
    amount_per_person: Yuan
    covers: list[str]
    pay_by: date = Field(description="R-PS-1: paid within 20 working days of the release")
    pay_by_provisional: bool
    received_at: datetime
    trace: dict[str, Any]
