"""The care service's policy parameters: their defaults (POLICY.md), units and rules.

Policy is data (POLICY.md): each figure below is only the *default* the first migration seeds as a
version valid from :data:`SEED_VALID_FROM`; a district administrator adds later versions through
``/api/v1/care/parameters``. Where the seed and POLICY.md give no number (visit frequencies, the
supervision period, the left-behind criteria's ages and absence), the default is the national
practice noted beside it and marked ``local_default``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

Kind = Literal["integer", "ratio"]

SEED_VALID_FROM = date(2000, 1, 1)

# Visit-plan categories (R-LB-2): the three left-behind groups, elderly unable to care for
# themselves (生活不能自理老人) and families of severe mental-disorder patients (严重精神障碍患者家庭).
VISIT_CATEGORIES = (
    "left_behind_child",
    "left_behind_elderly",
    "left_behind_woman",
    "dependent_elderly",
    "mental_disorder_family",
)


@dataclass(frozen=True)
class ParameterDef:
    key: str
    default: Decimal
    kind: Kind
    unit: str
    rule: str
    description: str
    minimum: Decimal = Decimal(1)
    maximum: Decimal = Decimal(100000)
    local_default: bool = False
    # For the supervision period: the value must divide 12 so periods tile the year.
    divides_twelve: bool = False


def _p(key: str, default: str, kind: Kind, unit: str, rule: str, description: str, **kw: object) -> ParameterDef:
    return ParameterDef(key, Decimal(default), kind, unit, rule, description, **kw)  # type: ignore[arg-type]


_DEFS = [
    _p("reassessment_working_days", "10", "integer", "working days", "R-TK-1",
       "A reported change of self-care ability is reassessed within this many working days (自理能力变化10个工作日内重新评估)."),
    _p("centralized_rate_target", "0.50", "ratio", "ratio", "R-TK-3",
       "Year-end target of the centralized-support rate among full-loss tekun persons (集中供养率).",
       minimum=Decimal("0.01"), maximum=Decimal("1")),
    _p("supervision_period_months", "3", "integer", "months", "R-TK-5",
       "Length of a supervision period of dispersed-support care contracts; three supervisions are due each period.",
       maximum=Decimal(12), local_default=True, divides_twelve=True),
    _p("visit_interval_days.left_behind_child", "30", "integer", "days", "R-LB-2",
       "Days between two visits of a left-behind child (留守儿童).", maximum=Decimal(366), local_default=True),
    _p("visit_interval_days.left_behind_elderly", "30", "integer", "days", "R-LB-2",
       "Days between two visits of a left-behind elderly person (留守老人).", maximum=Decimal(366), local_default=True),
    _p("visit_interval_days.left_behind_woman", "60", "integer", "days", "R-LB-2",
       "Days between two visits of a left-behind woman (留守妇女).", maximum=Decimal(366), local_default=True),
    _p("visit_interval_days.dependent_elderly", "14", "integer", "days", "R-LB-2",
       "Days between two visits of an elderly person unable to care for themselves (生活不能自理老人).",
       maximum=Decimal(366), local_default=True),
    _p("visit_interval_days.mental_disorder_family", "30", "integer", "days", "R-LB-2",
       "Days between two visits of the family of a severe mental-disorder patient (严重精神障碍患者家庭).",
       maximum=Decimal(366), local_default=True),
    _p("alert_ack_minutes", "30", "integer", "minutes", "R-LB-3",
       "An alert from a monitoring device (云守护) is acknowledged within this many minutes or escalates.",
       maximum=Decimal(1440)),
    _p("left_behind_child_max_age", "16", "integer", "years", "R-LB-1",
       "A left-behind child (农村留守儿童) is under this age.", maximum=Decimal(18), local_default=True),
    _p("left_behind_elderly_min_age", "60", "integer", "years", "R-LB-1",
       "A left-behind elderly person (农村留守老人) is at least this age.", maximum=Decimal(100), local_default=True),
    _p("left_behind_absence_months", "6", "integer", "months", "R-LB-1",
       "Parents, children or husband have been away working for at least this many months.",
       maximum=Decimal(120), local_default=True),
]

PARAMETERS: dict[str, ParameterDef] = {d.key: d for d in _DEFS}


def visit_interval_key(category: str) -> str:
    return f"visit_interval_days.{category}"


class InvalidParameterValue(ValueError):
    code = "invalid_value"


def check_value(definition: ParameterDef, value: Decimal) -> Decimal:
    """``value`` normalised for ``definition``; raises :class:`InvalidParameterValue` when it is
    not whole (integer kinds), outside [minimum, maximum], or (supervision period) not a divisor
    of 12."""
    if not value.is_finite():
        raise InvalidParameterValue("value must be a finite number")
    if definition.kind == "integer":
        if value != value.to_integral_value():
            raise InvalidParameterValue(f"{definition.key} must be a whole number of {definition.unit}")
        value = value.quantize(Decimal(1))
    else:
        value = value.quantize(Decimal("0.0001"))
    if not definition.minimum <= value <= definition.maximum:
        raise InvalidParameterValue(
            f"{definition.key} must be between {definition.minimum} and {definition.maximum}"
        )
    if definition.divides_twelve and 12 % int(value) != 0:
        raise InvalidParameterValue(f"{definition.key} must divide 12 (1, 2, 3, 4, 6 or 12)")
    return value
