"""Shapes of the gateway's reports (``/api/v1/reports``): the KPI report and the household chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Source = Literal["eligibility", "relief", "care", "subsidy", "wishes"]
SourceState = Literal["ok", "unavailable"]


class Kpi(BaseModel):
    """One KPI of one area. ``value``, ``numerator``, ``denominator`` and ``target`` are decimal
    strings (a count as an integer string; money in yuan); ``unit`` says how to read ``value``:
    ``percent`` (2.35 = 2.35 %), ``ratio`` (0.9000 = 90 %) or ``count``. ``met`` is whether
    ``value`` ``comparison`` ``target`` holds (null without a target or a value). A source that
    did not answer leaves everything but the identity null."""

    id: str
    label: str = Field(description="Chinese name, e.g. 低保覆盖率")
    rule: str = Field(description="POLICY.md rule id")
    value: str | None
    unit: Literal["percent", "ratio", "count"]
    numerator: str | None
    denominator: str | None
    target: str | None
    comparison: Literal[">="] | None
    met: bool | None


class Area(BaseModel):
    """The district (泉港区) or one town (镇/街道) with its KPIs, in the report's fixed order."""

    code: str
    name: str
    level: Literal["district", "town"]
    kpis: list[Kpi]


class KpiReport(BaseModel):
    """``GET /api/v1/reports/kpis``: the year's KPIs on one page (POLICY, measures 9 and 16).

    ``areas``: the district first (district-wide callers asking for no town), then towns in region
    order. ``sources``: whether each service answered (``unavailable``: its KPIs are null)."""

    year: int
    generated_at: datetime
    areas: list[Area]
    sources: dict[Source, SourceState]


class ChainItem(BaseModel):
    """One step of a household's assistance chain: when (``occurred_at``, Asia/Shanghai), which
    service, the event ``type``, the entity it is about (``subject``), a short Chinese
    ``summary`` and non-personal ``data`` (amounts in yuan, months, statuses, ids)."""

    occurred_at: datetime
    service: str
    type: str
    subject: str | None
    summary: str
    data: dict[str, Any]


class Chain(BaseModel):
    """``GET /api/v1/reports/households/{household_id}/chain``: oldest first, paginated."""

    household_id: str
    town: str | None
    items: list[ChainItem]
    next_cursor: str | None = None
