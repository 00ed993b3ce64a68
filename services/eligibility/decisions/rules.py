"""Pure policy functions of the decisions: no I/O, exact money, every result with its trace.

Each function takes its inputs and the :class:`~services.eligibility.parameters.rules.Parameters`
in force on the assessment date, and returns a frozen result whose ``trace()`` lists the inputs,
the parameter versions used, each intermediate figure and the rule ids (POLICY.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from services.eligibility.figures import (
    ZERO,
    Exact,
    add_months,
    age_on,
    exact,
    fen_half_up,
    month_of,
    month_text,
    show,
    show_exact,
)
from services.eligibility.parameters.rules import Parameters

# R-DB-2: deductible rigid expenditure as the seed lists it (因病、因残、因学、因疫) and the
# necessary employment costs (必要的就业成本).
DEDUCTIBLE_CATEGORIES: tuple[str, ...] = ("medical", "disability", "schooling", "epidemic", "employment_cost")

DisabilityKind = Literal["physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple"]
DibaoOutcome = Literal["eligible", "single_person_inclusion", "gradual_exit", "exit", "not_eligible"]


# --- R-DB-2..6 dibao (低保) ------------------------------------------------------------------


@dataclass(frozen=True)
class MemberCondition:
    """A member's situation for single-person inclusion (R-DB-5)."""

    disability_grade: int | None = None
    disability_kind: str | None = None
    serious_illness: bool = False
    own_income_12m: Exact = Decimal(0)
    person_id: str | None = None


@dataclass(frozen=True)
class DibaoInput:
    """What R-DB-2..6 read. Money in yuan; ``income_12m`` and the deductions cover the 12 months
    before the assessment; ``previous_benefit`` is the household's current monthly dibao benefit
    when it is already covered (it triggers the exit rules, R-DB-6)."""

    assessed_on: date
    members: int
    income_12m: Exact
    deductions_12m: Mapping[str, Exact] = field(default_factory=dict)
    financial_assets: Exact = Decimal(0)
    disqualifying_assets: tuple[str, ...] = ()
    member_conditions: tuple[MemberCondition, ...] = ()
    registered_poor: bool = False
    previous_benefit: Exact | None = None


@dataclass(frozen=True)
class SinglePersonBenefit:
    """One member covered alone (R-DB-5): ``monthly_benefit`` = standard − own monthly income."""

    index: int
    person_id: str | None
    basis: str
    own_monthly_income: Fraction
    monthly_benefit: Decimal


@dataclass(frozen=True)
class DibaoResult:
    outcome: DibaoOutcome
    eligible: bool
    standard: Decimal
    members: int
    net_income_12m: Fraction
    household_net_monthly: Fraction
    per_capita_exact: Fraction
    monthly_benefit: Decimal
    single_person_benefits: tuple[SinglePersonBenefit, ...]
    gradual_exit_last_month: date | None
    exit_last_month: date | None
    asset_test_passed: bool
    reasons: tuple[str, ...]
    rules: tuple[str, ...]
    figures: dict[str, str]
    parameters: list[dict[str, Any]]
    inputs: dict[str, Any]

    @property
    def per_capita_monthly(self) -> Decimal:
        """Per-capita monthly income rounded half-up to the fen, for display only (R-DB-4)."""
        return fen_half_up(self.per_capita_exact)

    @property
    def single_person_inclusion(self) -> bool:
        return bool(self.single_person_benefits)

    def trace(self) -> dict[str, Any]:
        return {
            "rules": list(self.rules),
            "inputs": self.inputs,
            "parameters": self.parameters,
            "figures": self.figures,
            "reasons": list(self.reasons),
            "outcome": self.outcome,
        }


def qualifies_alone(condition: MemberCondition) -> str | None:
    """R-DB-5: the basis on which a member may be covered alone, or None.

    Grade 1–2 disability of any kind; grade 3 intellectual or mental disability; a serious
    illness (重特大疾病).
    """
    grade, kind = condition.disability_grade, condition.disability_kind
    if grade in (1, 2):
        return f"disability_grade_{grade}"
    if grade == 3 and kind in ("intellectual", "mental"):
        return f"disability_grade_3_{kind}"
    if condition.serious_illness:
        return "serious_illness"
    return None


def assess_dibao(data: DibaoInput, params: Parameters) -> DibaoResult:
    """Dibao (低保) assessment of one household (R-DB-2, R-DB-3, R-DB-4, R-DB-5, R-DB-6).

    - R-DB-2: net income = income of 12 months − deductible rigid expenditure − employment costs,
      below 0 counts as 0; per-capita monthly income = net / 12 / members.
    - R-DB-3: eligible when per-capita income < standard (equal is not below) and the asset test
      passes (per-capita financial assets ≤ ``asset_limit_months`` × standard, no disqualifying
      asset).
    - R-DB-4: benefit = standard × members − net / 12, computed exactly; only this final amount is
      rounded, half-up to the fen.
    - R-DB-6: a household already covered (``previous_benefit``) that fails the income test
      keeps ``previous_benefit`` for ``gradual_exit_months`` calendar months after the
      assessment month when registered-poor (建档立卡), else for ``exit_months_other``.
    - R-DB-5: otherwise, in the edge band (per-capita income < ``edge_factor`` × standard, assets
      within the rules) each member qualifying alone gets standard − own monthly income.

    Raises ValueError for members < 1 or a negative amount, MissingParameter when a parameter has
    no version in force on ``assessed_on``.
    """
    if data.members < 1:
        raise ValueError("members must be at least 1")
    standard = params["dibao_standard"]
    std = exact(standard)
    income = exact(data.income_12m)
    deductions = {k: exact(v) for k, v in data.deductions_12m.items() if exact(v) != 0}
    if income < 0 or any(v < 0 for v in deductions.values()):
        raise ValueError("amounts must not be negative")
    unknown = set(deductions) - set(DEDUCTIBLE_CATEGORIES)
    if unknown:
        raise ValueError(f"not deductible: {sorted(unknown)}")
    deducted = sum(deductions.values(), ZERO)
    net_12m = max(income - deducted, ZERO)
    net_monthly = net_12m / 12
    per_capita = net_monthly / data.members
    income_test = per_capita < std
    rules = ["R-DB-1", "R-DB-2", "R-DB-3"]

    # R-DB-3 asset test.
    assets = exact(data.financial_assets)
    asset_limit = params["asset_limit_months"] * standard
    per_capita_assets = assets / data.members
    asset_test = per_capita_assets <= exact(asset_limit) and not data.disqualifying_assets
    reasons: list[str] = []
    if not income_test:
        reasons.append("per_capita_income_not_below_standard")
    if per_capita_assets > exact(asset_limit):
        reasons.append("financial_assets_above_limit")
    if data.disqualifying_assets:
        reasons.append("disqualifying_assets")

    figures: dict[str, str] = {
        "standard": show(std),
        "income_12m": show_exact(income),
        "deductions_12m": show(deducted),
        "net_income_12m": show_exact(net_12m),
        "household_net_monthly": show_exact(net_monthly),
        "per_capita_monthly": show_exact(per_capita),
        "per_capita_monthly_display": show(per_capita),
        "per_capita_financial_assets": show(per_capita_assets),
        "asset_limit_per_capita": show(exact(asset_limit)),
    }
    month = month_of(data.assessed_on)
    eligible = income_test and asset_test
    benefit = Decimal("0.00")
    single: tuple[SinglePersonBenefit, ...] = ()
    gradual_last: date | None = None
    exit_last: date | None = None
    outcome: DibaoOutcome

    if eligible:
        rules.append("R-DB-4")
        exact_benefit = std * data.members - net_monthly
        benefit = fen_half_up(exact_benefit)
        figures["standard_times_members"] = show(std * data.members)
        figures["benefit_unrounded"] = show_exact(exact_benefit)
        figures["monthly_benefit"] = format(benefit, "f")
        outcome = "eligible"
    else:
        if data.previous_benefit is not None and not income_test and asset_test:
            rules.append("R-DB-6")
            previous = fen_half_up(exact(data.previous_benefit))
            if data.registered_poor:
                months = params.integer("gradual_exit_months")
            else:
                months = params.integer("exit_months_other")
            last = add_months(month, months)
            figures["previous_benefit"] = format(previous, "f")
            figures["exit_months"] = str(months)
            if data.registered_poor and months > 0:
                gradual_last = last
                benefit = previous
                figures["gradual_exit_last_month"] = month_text(last)
                outcome = "gradual_exit"
                reasons.append("gradual_exit_registered_poor")
            else:
                exit_last = last
                figures["last_month"] = month_text(last)
                outcome = "exit"
                if months > 0:
                    benefit = previous
        else:
            outcome = "exit" if data.previous_benefit is not None else "not_eligible"
            if data.previous_benefit is not None:
                exit_last = month
                figures["last_month"] = month_text(month)
        if outcome in ("exit", "not_eligible"):
            single = _single_person(data, params, std, per_capita, asset_test, figures, rules)
            if single:
                outcome = "single_person_inclusion"
                benefit = sum((s.monthly_benefit for s in single), Decimal("0.00"))
                figures["monthly_benefit"] = format(benefit, "f")

    inputs = {
        "assessed_on": data.assessed_on.isoformat(),
        "members": data.members,
        "income_12m": show_exact(income),
        "deductions_12m": {k: show(v) for k, v in sorted(deductions.items())},
        "financial_assets": show(assets),
        "disqualifying_assets": list(data.disqualifying_assets),
        "member_conditions": [
            {
                "person_id": c.person_id,
                "disability_grade": c.disability_grade,
                "disability_kind": c.disability_kind,
                "serious_illness": c.serious_illness,
                "own_income_12m": show_exact(exact(c.own_income_12m)),
            }
            for c in data.member_conditions
        ],
        "registered_poor": data.registered_poor,
        "previous_benefit": show(exact(data.previous_benefit)) if data.previous_benefit is not None else None,
    }
    return DibaoResult(
        outcome=outcome,
        eligible=eligible,
        standard=standard,
        members=data.members,
        net_income_12m=net_12m,
        household_net_monthly=net_monthly,
        per_capita_exact=per_capita,
        monthly_benefit=benefit,
        single_person_benefits=single,
        gradual_exit_last_month=gradual_last,
        exit_last_month=exit_last,
        asset_test_passed=asset_test,
        reasons=tuple(reasons),
        rules=tuple(rules),
        figures=figures,
        parameters=params.used(),
        inputs=inputs,
    )


def _single_person(
    data: DibaoInput,
    params: Parameters,
    std: Fraction,
    per_capita: Fraction,
    asset_test: bool,
    figures: dict[str, str],
    rules: list[str],
) -> tuple[SinglePersonBenefit, ...]:
    """R-DB-5 for a household that is not eligible as a whole."""
    if not data.member_conditions:
        return ()
    edge_line = exact(params["edge_factor"]) * std
    figures["edge_line"] = show(edge_line)
    if not (asset_test and std <= per_capita < edge_line):
        return ()
    rules.append("R-DB-5")
    covered = []
    for index, condition in enumerate(data.member_conditions):
        basis = qualifies_alone(condition)
        if basis is None:
            continue
        own_monthly = max(exact(condition.own_income_12m), ZERO) / 12
        if own_monthly >= std:
            continue
        amount = fen_half_up(std - own_monthly)
        covered.append(SinglePersonBenefit(index, condition.person_id, basis, own_monthly, amount))
        figures[f"single_person_{index}_own_monthly_income"] = show_exact(own_monthly)
        figures[f"single_person_{index}_benefit"] = format(amount, "f")
    return tuple(covered)


def recalculated_amount(standard: Exact, members: int, net_income_12m: Exact) -> Decimal:
    """R-DB-4 with a new standard and the household's assessed net income: standard × members −
    net / 12, rounded half-up to the fen; 0.00 when not positive (the caller then applies R-DB-6).
    The set-based SQL recalculation computes the same figure (see ``decisions.recalc``)."""
    value = exact(standard) * members - exact(net_income_12m) / 12
    return fen_half_up(value) if value > 0 else Decimal("0.00")


# --- R-TK-1 tekun (特困) -----------------------------------------------------------------------

SchoolEnrolment = Literal["none", "compulsory", "high_school", "secondary_vocational", "higher"]
_IN_SCHOOL_KEEPS_SUPPORT = ("compulsory", "high_school", "secondary_vocational")


@dataclass(frozen=True)
class Supporter:
    """A legal supporter (法定赡养、抚养、扶养义务人) and whether they are able to support."""

    relation: str
    able_to_support: bool


@dataclass(frozen=True)
class TekunInput:
    assessed_on: date
    birth_date: date
    disability_grade: int | None = None
    disability_kind: str | None = None
    own_income_12m: Exact = Decimal(0)
    financial_assets: Exact = Decimal(0)
    supporters: tuple[Supporter, ...] = ()
    school_enrolment: str = "none"
    currently_tekun: bool = False
    chose_orphan_allowance: bool = False


@dataclass(frozen=True)
class TekunResult:
    eligible: bool
    incapacity: tuple[str, ...]
    no_income_source: bool
    no_able_supporter: bool
    support_until: date | None
    monthly_basic_living: Decimal
    reasons: tuple[str, ...]
    figures: dict[str, str]
    parameters: list[dict[str, Any]]
    inputs: dict[str, Any]
    rules: tuple[str, ...] = ("R-TK-1", "R-TK-2")

    def trace(self) -> dict[str, Any]:
        return {
            "rules": list(self.rules),
            "inputs": self.inputs,
            "parameters": self.parameters,
            "figures": self.figures,
            "reasons": list(self.reasons),
            "outcome": "eligible" if self.eligible else "not_eligible",
        }


def incapacity_grounds(age: int, grade: int | None, kind: str | None, params: Parameters) -> list[str]:
    """R-TK-1 no capacity to work (无劳动能力): aged ``tekun_elderly_age`` (60) or over; under
    ``tekun_minor_age`` (16); intellectual or mental disability grade 1–3; physical disability
    grade 1–2; visual disability grade 1."""
    grounds = []
    if age >= params.integer("tekun_elderly_age"):
        grounds.append("aged")
    if age < params.integer("tekun_minor_age"):
        grounds.append("minor")
    if grade is not None:
        if kind in ("intellectual", "mental") and grade <= 3:
            grounds.append(f"{kind}_disability_grade_{grade}")
        elif kind == "physical" and grade <= 2:
            grounds.append(f"physical_disability_grade_{grade}")
        elif kind == "visual" and grade == 1:
            grounds.append("visual_disability_grade_1")
    return grounds


def assess_tekun(data: TekunInput, params: Parameters) -> TekunResult:
    """Tekun (特困) eligibility (R-TK-1) and the basic living amount (R-TK-2).

    Eligible when all three hold: no capacity to work (:func:`incapacity_grounds`); no income
    source — own monthly income below the dibao standard, the national definition of 无生活来源
    (《特困人员认定办法》第七条); and no legal supporter able to support. A tekun minor keeps the
    support until ``tekun_support_until_age`` (18), and beyond while in compulsory education, high
    school or secondary vocational school. A minor who chose the orphan / child-without-care
    allowance is not tekun. The basic living amount is ``tekun_basic_factor`` × dibao standard,
    rounded half-up to the fen (the care tier is paid separately, R-TK-2).
    """
    age = age_on(data.birth_date, data.assessed_on)
    standard = params["dibao_standard"]
    std = exact(standard)
    grounds = incapacity_grounds(age, data.disability_grade, data.disability_kind, params)
    until_age = params.integer("tekun_support_until_age")
    reasons: list[str] = []
    if not grounds and data.currently_tekun:
        if age < until_age:
            grounds.append("tekun_minor_until_18")
        elif data.school_enrolment in _IN_SCHOOL_KEEPS_SUPPORT and age >= until_age:
            grounds.append(f"tekun_in_school_{data.school_enrolment}")
    own_monthly = max(exact(data.own_income_12m), ZERO) / 12
    no_income = own_monthly < std
    no_supporter = not any(s.able_to_support for s in data.supporters)
    if not grounds:
        reasons.append("capacity_to_work")
    if not no_income:
        reasons.append("income_source")
    if not no_supporter:
        reasons.append("able_supporter")
    is_minor = age < until_age
    if data.chose_orphan_allowance and is_minor:
        reasons.append("chose_orphan_allowance")
    eligible = bool(grounds) and no_income and no_supporter and not (data.chose_orphan_allowance and is_minor)
    support_until: date | None = None
    if eligible and set(grounds) <= {"minor", "tekun_minor_until_18"}:
        # Support as a minor only: it runs to the 18th birthday (longer while in school).
        try:
            support_until = data.birth_date.replace(year=data.birth_date.year + until_age)
        except ValueError:  # 29 February
            support_until = date(data.birth_date.year + until_age, 3, 1)
    basic = fen_half_up(exact(params["tekun_basic_factor"]) * std) if eligible else Decimal("0.00")
    figures = {
        "age": str(age),
        "own_monthly_income": show_exact(own_monthly),
        "dibao_standard": show(std),
        "monthly_basic_living": format(basic, "f"),
    }
    if support_until is not None:
        figures["support_until"] = support_until.isoformat()
    inputs = {
        "assessed_on": data.assessed_on.isoformat(),
        "birth_date": data.birth_date.isoformat(),
        "disability_grade": data.disability_grade,
        "disability_kind": data.disability_kind,
        "own_income_12m": show_exact(exact(data.own_income_12m)),
        "supporters": [{"relation": s.relation, "able_to_support": s.able_to_support} for s in data.supporters],
        "school_enrolment": data.school_enrolment,
        "currently_tekun": data.currently_tekun,
        "chose_orphan_allowance": data.chose_orphan_allowance,
    }
    return TekunResult(
        eligible=eligible,
        incapacity=tuple(grounds),
        no_income_source=no_income,
        no_able_supporter=no_supporter,
        support_until=support_until,
        monthly_basic_living=basic,
        reasons=tuple(reasons),
        figures=figures,
        parameters=params.used(),
        inputs=inputs,
    )


def tekun_basic_amount(standard: Exact, factor: Exact) -> Decimal:
    """R-TK-2 basic living standard: factor × dibao standard, half-up to the fen."""
    return fen_half_up(exact(factor) * exact(standard))


# --- R-OR-2 child without de-facto care (事实无人抚养儿童) and orphans -------------------------

ParentSituation = Literal[
    "none", "dead", "missing", "severe_disability", "serious_illness", "imprisoned",
    "compulsory_drug_rehab", "deprived_of_liberty",
]
_SITUATIONS = ("missing", "severe_disability", "serious_illness", "imprisoned", "compulsory_drug_rehab", "deprived_of_liberty")


@dataclass(frozen=True)
class Parent:
    """One parent's situation. ``missing_since`` is required for ``missing``; ``disability_grade``
    and ``disability_kind`` for ``severe_disability``."""

    situation: str = "none"
    missing_since: date | None = None
    disability_grade: int | None = None
    disability_kind: str | None = None


@dataclass(frozen=True)
class ChildInput:
    assessed_on: date
    birth_date: date
    parents: tuple[Parent, Parent]
    school_enrolment: str = "none"
    in_institution: bool = False


@dataclass(frozen=True)
class ChildResult:
    category: Literal["orphan_institutional", "orphan_dispersed", "child_without_care"] | None
    parent_findings: tuple[str, ...]
    reasons: tuple[str, ...]
    figures: dict[str, str]
    parameters: list[dict[str, Any]]
    inputs: dict[str, Any]
    rules: tuple[str, ...] = ("R-OR-1", "R-OR-2")

    def trace(self) -> dict[str, Any]:
        return {
            "rules": list(self.rules),
            "inputs": self.inputs,
            "parameters": self.parameters,
            "figures": self.figures,
            "reasons": list(self.reasons),
            "outcome": self.category or "not_eligible",
        }


def parent_finding(parent: Parent, assessed_on: date, params: Parameters) -> str:
    """What R-OR-2 makes of one parent: ``dead``, ``missing`` (missing ``cwc_missing_months``
    (6) or more), ``in_situation`` (severely disabled — grade 1–2, or grade 3–4 mental /
    intellectual —, seriously ill, imprisoned, in compulsory drug rehabilitation, otherwise
    deprived of liberty) or ``present``."""
    s = parent.situation
    if s == "dead":
        return "dead"
    if s == "missing":
        months = params.integer("cwc_missing_months")
        if parent.missing_since is not None and _months_elapsed(parent.missing_since, assessed_on) >= months:
            return "missing"
        return "present"
    if s == "severe_disability":
        grade, kind = parent.disability_grade, parent.disability_kind
        if grade in (1, 2) or (grade in (3, 4) and kind in ("mental", "intellectual")):
            return "in_situation"
        return "present"
    if s in _SITUATIONS:
        return "in_situation"
    return "present"


def _months_elapsed(since: date, on: date) -> int:
    months = (on.year - since.year) * 12 + on.month - since.month
    if on.day < since.day:
        months -= 1
    return months


def assess_child(data: ChildInput, params: Parameters) -> ChildResult:
    """Orphan (R-OR-1) or child without de-facto care (R-OR-2).

    Under 18 (or older while in high school / secondary vocational school, R-OR-1). Both parents
    dead: orphan (institutional when living in a welfare institution, else dispersed). Child
    without de-facto care: both parents missing or in a situation; or one parent dead or missing
    and the other missing or in a situation.
    """
    age = age_on(data.birth_date, data.assessed_on)
    findings = tuple(parent_finding(p, data.assessed_on, params) for p in data.parents)
    reasons: list[str] = []
    in_age = age < 18 or data.school_enrolment in ("high_school", "secondary_vocational")
    category: Any = None
    if not in_age:
        reasons.append("age_18_or_over")
    else:
        dead = findings.count("dead")
        absent = sum(1 for f in findings if f in ("missing", "in_situation"))
        if dead == 2:
            category = "orphan_institutional" if data.in_institution else "orphan_dispersed"
        elif dead + absent == 2:
            category = "child_without_care"
        else:
            reasons.append("a_parent_can_provide_care")
    inputs = {
        "assessed_on": data.assessed_on.isoformat(),
        "birth_date": data.birth_date.isoformat(),
        "school_enrolment": data.school_enrolment,
        "in_institution": data.in_institution,
        "parents": [
            {
                "situation": p.situation,
                "missing_since": p.missing_since.isoformat() if p.missing_since else None,
                "disability_grade": p.disability_grade,
                "disability_kind": p.disability_kind,
            }
            for p in data.parents
        ],
    }
    params.version("cwc_missing_months")
    return ChildResult(
        category=category,
        parent_findings=findings,
        reasons=tuple(reasons),
        figures={"age": str(age), "parents": ", ".join(findings)},
        parameters=params.used(),
        inputs=inputs,
    )


# --- the benefit a decision grants ------------------------------------------------------------


def payment_start(decided_on: date) -> date:
    """R-DB-9 / R-TK-1: payment (support) starts the month after the approval."""
    return add_months(month_of(decided_on), 1)
