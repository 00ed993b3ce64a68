"""Wire shapes of ``GET /api/v1/eligibility/kpis`` (the reports contract of issue 8)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class KpiArea(BaseModel):
    """One town's (or the district's) R-DB-8 figures for the year."""

    town: str = Field(description="division code (the district's for the district)")
    town_name: str
    registered_population: int | None = Field(description="registered population (户籍人口) of the year; null when not recorded")
    dibao_households: int = Field(description="households with a dibao or single-person benefit paid in the month of as_of")
    dibao_members: int = Field(description="persons those benefits cover in the month of as_of")
    coverage_rate: str | None = Field(description="dibao members per 100 registered residents (percent, 2 places)")
    per_capita_benefit: str | None = Field(description="person-month weighted average monthly benefit per person over the year's months to as_of (yuan)")
    per_capita_benefit_previous: str | None = Field(description="the same over the previous year (yuan)")
    benefit_growth: str | None = Field(description="per_capita_benefit / per_capita_benefit_previous (ratio, 4 places, of the exact figures)")
    growth_target: str = Field(description="benefit_growth_target parameter (1.12)")
    meets_growth_target: bool | None = Field(description="the exact growth ratio reaches the target")


class KpisOut(BaseModel):
    year: int
    as_of: date = Field(description="min(31 December of year, today)")
    towns: list[KpiArea]
    district: KpiArea
