"""POLICY.md's default numbers of the rules this service applies, as first parameter versions.

The initial migration seeds these rows; afterwards a district administrator adds versions through
``POST /api/v1/eligibility/parameters``. ``unit`` says how a value reads: ``yuan`` (per month),
``ratio``, ``months``, ``years``, ``days`` (calendar days) or ``working_days`` (China's official
working days, shared calendar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class ParameterDefinition:
    name: str
    unit: str
    rule: str
    description: str


DEFINITIONS: tuple[ParameterDefinition, ...] = (
    ParameterDefinition("dibao_standard", "yuan", "R-DB-1", "Dibao standard (低保标准), yuan per person per month"),
    ParameterDefinition("asset_limit_months", "months", "R-DB-3", "Per-capita financial assets may not exceed this many months of the standard"),
    ParameterDefinition("edge_factor", "ratio", "R-DB-5", "Dibao-edge band (低保边缘): per-capita income below this factor x the standard"),
    ParameterDefinition("gradual_exit_months", "months", "R-DB-6", "Gradual exit (渐退期) of a registered-poor dibao household, months after the reassessment month"),
    ParameterDefinition("exit_months_other", "months", "R-DB-6", "Months other households keep the benefit after the reassessment month (0: exit at once)"),
    ParameterDefinition("investigation_start_working_days", "working_days", "R-DB-9", "The town starts the household investigation within this many working days of acceptance"),
    ParameterDefinition("notice_days", "days", "R-DB-9", "Public notice (公示) length, calendar days"),
    ParameterDefinition("decision_working_days", "working_days", "R-DB-9", "Decision within this many working days of the file reaching the approver"),
    ParameterDefinition("process_working_days", "working_days", "R-DB-9", "Whole process within this many working days of acceptance"),
    ParameterDefinition("process_extended_working_days", "working_days", "R-DB-9", "Whole process when extended"),
    ParameterDefinition("refusal_notice_working_days", "working_days", "R-DB-9", "A refusal is notified with reasons within this many working days"),
    ParameterDefinition("deadline_warning_working_days", "working_days", "R-DB-9", "Warn (deadline_at_risk) when this many working days remain before a step's deadline (tracked like R-TR-2)"),
    ParameterDefinition("recheck_months_stable", "months", "R-DB-9", "Re-check interval of a stable household"),
    ParameterDefinition("recheck_months_irregular", "months", "R-DB-9", "Re-check interval of a household with irregular income or members able to work"),
    ParameterDefinition("tekun_elderly_age", "years", "R-TK-1", "Aged this or over: no capacity to work"),
    ParameterDefinition("tekun_minor_age", "years", "R-TK-1", "Under this age: no capacity to work"),
    ParameterDefinition("tekun_support_until_age", "years", "R-TK-1", "A tekun minor keeps the support until this age (longer while in school)"),
    ParameterDefinition("tekun_basic_factor", "ratio", "R-TK-2", "Tekun basic living standard = this factor x the dibao standard"),
    ParameterDefinition("tekun_investigation_working_days", "working_days", "R-TK-1", "Tekun: town investigation within this many working days"),
    ParameterDefinition("tekun_notice_days", "days", "R-TK-1", "Tekun: public notice length, calendar days"),
    ParameterDefinition("tekun_confirmation_working_days", "working_days", "R-TK-1", "Tekun: confirmation within this many working days after the notice"),
    ParameterDefinition("cwc_missing_months", "months", "R-OR-2", "A parent missing at least this many months counts as missing"),
    ParameterDefinition("expenditure_shock_ratio", "ratio", "R-RM-2", "Flag when rigid expenditure of 12 months exceeds this ratio x last calendar year's income"),
    ParameterDefinition("income_drop_ratio", "ratio", "R-RM-3", "Flag when income of 12 months fell by at least this share against the 12 months before"),
    ParameterDefinition("monitoring_line_factor", "ratio", "R-RM-4", "Flag when per-capita monthly income is below this factor x the dibao standard"),
    ParameterDefinition("expenditure_relief_cap", "yuan", "R-RM-5", "Ceiling of the expenditure-type temporary relief suggested on an expenditure shock"),
    ParameterDefinition("benefit_growth_target", "ratio", "R-DB-8", "Growth KPI: the year's per-capita monthly dibao benefit at least this ratio x the previous year's (人均补差比增12%)"),
)
BY_NAME = {d.name: d for d in DEFINITIONS}

_2019 = date(2019, 1, 1)
_2020 = date(2020, 1, 1)

# (name, value, valid_from, valid_to)
SEED: tuple[tuple[str, Decimal, date, date | None], ...] = (
    ("dibao_standard", Decimal("600.00"), _2019, date(2019, 12, 31)),
    ("dibao_standard", Decimal("720.00"), _2020, None),
    ("asset_limit_months", Decimal("24"), _2019, None),
    ("edge_factor", Decimal("1.5"), _2019, None),
    ("gradual_exit_months", Decimal("12"), _2019, None),
    ("exit_months_other", Decimal("0"), _2019, None),
    ("investigation_start_working_days", Decimal("3"), _2019, None),
    ("notice_days", Decimal("7"), _2019, None),
    ("decision_working_days", Decimal("10"), _2019, None),
    ("process_working_days", Decimal("30"), _2019, None),
    ("process_extended_working_days", Decimal("45"), _2019, None),
    ("refusal_notice_working_days", Decimal("3"), _2019, None),
    ("deadline_warning_working_days", Decimal("1"), _2019, None),
    ("recheck_months_stable", Decimal("12"), _2019, None),
    ("recheck_months_irregular", Decimal("6"), _2019, None),
    ("tekun_elderly_age", Decimal("60"), _2019, None),
    ("tekun_minor_age", Decimal("16"), _2019, None),
    ("tekun_support_until_age", Decimal("18"), _2019, None),
    ("tekun_basic_factor", Decimal("1.3"), _2019, None),
    ("tekun_investigation_working_days", Decimal("15"), _2019, None),
    ("tekun_notice_days", Decimal("7"), _2019, None),
    ("tekun_confirmation_working_days", Decimal("15"), _2019, None),
    ("cwc_missing_months", Decimal("6"), _2019, None),
    ("expenditure_shock_ratio", Decimal("1.0"), _2019, None),
    ("income_drop_ratio", Decimal("0.5"), _2019, None),
    ("monitoring_line_factor", Decimal("1.5"), _2019, None),
    ("expenditure_relief_cap", Decimal("5000.00"), _2019, None),
    ("benefit_growth_target", Decimal("1.12"), _2019, None),
)
