"""Every policy parameter the subsidy service uses: its key, kind, rule, unit and default versions.

A parameter's value is JSON in the database; :meth:`ParameterSpec.normalise` checks and normalises
a new value (money as ``"720.00"``, ratios as plain decimal strings), :meth:`ParameterSpec.parse`
turns a stored value into Python (``Decimal``, ``int``, tuples, mappings). The defaults below are
POLICY.md's; where POLICY.md names a parameter without a figure (care tiers, the two-subsidy
amounts, orphan and veteran standards and their growth, centralized-support fees) the default is a
placeholder for the bureau to confirm, and its description says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from shared.money import MoneyError, format_yuan, parse_yuan

Kind = Literal["money", "decimal", "percent", "integer", "categories", "money_map", "decimal_map"]

SELF_CARE_LEVELS = ("self_care", "partial_loss", "full_loss")
PRICE_CATEGORIES = ("dibao", "tekun", "revolutionary_veteran", "orphan", "child_without_care")
HOUSING_MILESTONES = ("started", "structure_done", "accepted")

PLACEHOLDER = " Default is a placeholder (POLICY.md gives no figure): the bureau sets the real one."


class ParameterValueError(ValueError):
    """A refused parameter value; ``code`` is ``invalid_parameter_value``."""

    code = "invalid_parameter_value"


@dataclass(frozen=True)
class Default:
    valid_from: date
    value: Any
    valid_to: date | None = None


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: ``key``, value ``kind``, the ``rule`` it belongs to, ``unit``, ``description``,
    ``options`` (allowed categories, or the exact keys of a map) and the seeded ``defaults``."""

    key: str
    kind: Kind
    rule: str
    unit: str
    description: str
    defaults: tuple[Default, ...]
    options: tuple[str, ...] = ()
    sums_to_one: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def normalise(self, value: Any) -> Any:
        """The canonical JSON form of ``value``; raises :class:`ParameterValueError`."""
        if self.kind == "money":
            return _money(value, self.key)
        if self.kind in ("decimal", "percent"):
            return _decimal(value, self.key, allow_negative=False)
        if self.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 1200:
                raise ParameterValueError(f"{self.key} must be a whole number 0–1200")
            return value
        if self.kind == "categories":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise ParameterValueError(f"{self.key} must be a non-empty list of categories")
            unknown = sorted(set(value) - set(self.options))
            if unknown:
                raise ParameterValueError(f"{self.key}: unknown categories {unknown}; allowed {list(self.options)}")
            return [c for c in self.options if c in set(value)]
        if self.kind in ("money_map", "decimal_map"):
            if not isinstance(value, dict) or set(value) != set(self.options):
                raise ParameterValueError(f"{self.key} must be an object with exactly the keys {list(self.options)}")
            if self.kind == "money_map":
                out = {k: _money(value[k], f"{self.key}.{k}") for k in self.options}
            else:
                out = {k: _decimal(value[k], f"{self.key}.{k}", allow_negative=False) for k in self.options}
            if self.sums_to_one and sum(Decimal(v) for v in out.values()) != 1:
                raise ParameterValueError(f"{self.key}: the parts must add up to 1")
            return out
        raise AssertionError(self.kind)  # pragma: no cover

    def parse(self, value: Any) -> Any:
        """Python form of a stored (normalised) value."""
        if self.kind == "money":
            return parse_yuan(value)
        if self.kind in ("decimal", "percent"):
            return Decimal(value)
        if self.kind == "integer":
            return int(value)
        if self.kind == "categories":
            return tuple(value)
        if self.kind == "money_map":
            return {k: parse_yuan(v) for k, v in value.items()}
        if self.kind == "decimal_map":
            return {k: Decimal(v) for k, v in value.items()}
        raise AssertionError(self.kind)  # pragma: no cover


def _money(value: Any, what: str) -> str:
    try:
        if isinstance(value, float):
            raise MoneyError("not_a_number", "use a decimal string")
        return format_yuan(parse_yuan(value))
    except MoneyError as exc:
        raise ParameterValueError(f"{what}: {exc.message}") from None


def _decimal(value: Any, what: str, *, allow_negative: bool) -> str:
    if isinstance(value, bool) or isinstance(value, float) or not isinstance(value, (str, int)):
        raise ParameterValueError(f"{what} must be a decimal string such as \"3.5\"")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ParameterValueError(f"{what} must be a decimal string such as \"3.5\"") from None
    if not number.is_finite() or (number < 0 and not allow_negative) or abs(number) > 1000:
        raise ParameterValueError(f"{what} must be a finite decimal between 0 and 1000")
    return format(number.normalize(), "f") if number == number.to_integral() else str(number)


D2019 = date(2019, 1, 1)
D2020 = date(2020, 1, 1)

SPECS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "dibao_standard", "money", "R-DB-1", "yuan/month",
        "Urban and rural dibao standard (低保标准), one figure for the district.",
        (Default(D2019, "600.00", date(2019, 12, 31)), Default(D2020, "720.00")),
    ),
    ParameterSpec(
        "gradual_exit_months", "integer", "R-DB-6", "months",
        "Gradual-exit period (渐退期) of a 建档立卡 dibao household whose income rose above the standard.",
        (Default(D2019, 12),),
    ),
    ParameterSpec(
        "gradual_exit_months_other", "integer", "R-DB-6", "months",
        "Gradual-exit period of any other dibao household (0: exits at once).",
        (Default(D2019, 0),),
    ),
    ParameterSpec(
        "tekun_basic_factor", "decimal", "R-TK-2", "× dibao standard",
        "Tekun basic living standard (基本生活标准) as a multiple of the monthly dibao standard.",
        (Default(D2019, "1.3"),),
    ),
    ParameterSpec(
        "tekun_care_standard", "money_map", "R-TK-2", "yuan/month",
        "Tekun care standard (照料护理标准), one tier per self-care level." + PLACEHOLDER,
        (Default(D2019, {"self_care": "100.00", "partial_loss": "400.00", "full_loss": "800.00"}),),
        options=SELF_CARE_LEVELS,
    ),
    ParameterSpec(
        "centralized_support_fees", "money_map", "R-TK-4", "yuan/month",
        "Monthly fees of centralized support (集中供养): bed, living, and nursing by self-care level." + PLACEHOLDER,
        (Default(D2019, {"bed": "400.00", "living": "1000.00", "nursing_self_care": "200.00",
                         "nursing_partial_loss": "600.00", "nursing_full_loss": "1200.00"}),),
        options=("bed", "living", "nursing_self_care", "nursing_partial_loss", "nursing_full_loss"),
    ),
    ParameterSpec(
        "disability_living_subsidy", "money", "R-DS-1", "yuan/month",
        "Living subsidy for disabled members of dibao households (困难残疾人生活补贴)." + PLACEHOLDER,
        (Default(D2019, "80.00"),),
    ),
    ParameterSpec(
        "disability_nursing_subsidy", "money_map", "R-DS-1", "yuan/month",
        "Nursing subsidy for grade 1–2 disability needing long-term care (重度残疾人护理补贴), by grade." + PLACEHOLDER,
        (Default(D2019, {"grade_1": "100.00", "grade_2": "80.00"}),),
        options=("grade_1", "grade_2"),
    ),
    ParameterSpec(
        "long_term_care_months", "integer", "R-DS-2", "months",
        "Care needed for at least this many months counts as long-term care.",
        (Default(D2019, 6),),
    ),
    ParameterSpec(
        "orphan_standard", "money_map", "R-OR-1", "yuan/month",
        "Orphan allowance base standards (孤儿基本生活费), institutional and dispersed, in force from "
        "the version's valid_from; a child without de-facto care gets the dispersed one." + PLACEHOLDER,
        (Default(D2020, {"institutional": "1600.00", "dispersed": "1100.00"}),),
        options=("institutional", "dispersed"),
    ),
    ParameterSpec(
        "orphan_growth_rate", "decimal", "R-OR-1", "per year",
        "Natural growth (自然增长) of the orphan standards per calendar year after the base version's year." + PLACEHOLDER,
        (Default(D2020, "0.05"),),
    ),
    ParameterSpec(
        "orphan_adult_age", "integer", "R-OR-1", "years",
        "The allowance stops after the month the child reaches this age, unless in high school or "
        "secondary vocational school.",
        (Default(D2019, 18),),
    ),
    ParameterSpec(
        "veteran_allowance", "money", "R-OA-1", "yuan/month",
        "Living allowance of revolutionary veterans (革命“五老”) from the version's valid_from." + PLACEHOLDER,
        (Default(D2020, "900.00"),),
    ),
    ParameterSpec(
        "veteran_growth_rate", "decimal", "R-OA-1", "per year",
        "Natural growth of the veteran allowance per calendar year after the base version's year." + PLACEHOLDER,
        (Default(D2020, "0.10"),),
    ),
    ParameterSpec(
        "price_cpi_trigger", "percent", "R-PS-1", "% year on year",
        "A month whose CPI rise reaches this triggers the price-linked subsidy (价格临时补贴).",
        (Default(D2019, "3.5"),),
    ),
    ParameterSpec(
        "price_food_cpi_trigger", "percent", "R-PS-1", "% year on year",
        "A month whose food CPI rise reaches this triggers the price-linked subsidy.",
        (Default(D2019, "6"),),
    ),
    ParameterSpec(
        "price_min_amount", "money", "R-PS-2", "yuan/person/month",
        "Floor of the monthly price subsidy of a triggered month.",
        (Default(D2019, "0.00"),),
    ),
    ParameterSpec(
        "price_multiplier", "decimal", "R-PS-2", "×",
        "Multiplier of the price subsidy (阶段性提高1倍: 2 in March–June 2020).",
        (Default(D2019, "1", date(2020, 2, 29)), Default(date(2020, 3, 1), "2", date(2020, 6, 30)),
         Default(date(2020, 7, 1), "1")),
    ),
    ParameterSpec(
        "price_categories", "categories", "R-PS-3", "categories",
        "Who receives the price subsidy; in March–June 2020 extended to orphans and children without "
        "de-facto care.",
        (Default(D2019, ["dibao", "tekun", "revolutionary_veteran"], date(2020, 2, 29)),
         Default(date(2020, 3, 1), list(PRICE_CATEGORIES), date(2020, 6, 30)),
         Default(date(2020, 7, 1), ["dibao", "tekun", "revolutionary_veteran"])),
        options=PRICE_CATEGORIES,
    ),
    ParameterSpec(
        "price_payment_working_days", "integer", "R-PS-1", "working days",
        "The month's price subsidy is paid within this many working days of the index's release.",
        (Default(D2019, 20),),
    ),
    ParameterSpec(
        "housing_tranche_ratios", "decimal_map", "R-HS-1", "share of the subsidy",
        "Safe-housing (安居工程) subsidy tranches paid when a project reaches each milestone.",
        (Default(D2019, {"started": "0.30", "structure_done": "0.40", "accepted": "0.30"}),),
        options=HOUSING_MILESTONES,
        sums_to_one=True,
    ),
    ParameterSpec(
        "housing_target", "integer", "R-HS-1", "households",
        "Safe-housing projects to be accepted (不少于50户).",
        (Default(D2019, 50),),
    ),
)

BY_KEY: dict[str, ParameterSpec] = {spec.key: spec for spec in SPECS}


def spec_of(key: str) -> ParameterSpec:
    """The spec of ``key``; KeyError if there is no such parameter."""
    return BY_KEY[key]


def seed_rows() -> list[dict[str, Any]]:
    """The default versions as rows for the seeding migration."""
    rows = []
    for spec in SPECS:
        for default in spec.defaults:
            rows.append({
                "key": spec.key,
                "valid_from": default.valid_from,
                "valid_to": default.valid_to,
                "value": spec.normalise(default.value),
                "note": "POLICY.md default",
                "created_by": "migration",
            })
    return rows
