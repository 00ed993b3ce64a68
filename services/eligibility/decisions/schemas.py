"""Wire shapes of the calculators, decisions and benefits."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic_core import PydanticCustomError

from services.eligibility.registry.schemas import DisabilityKind, ParentSituation, SchoolEnrolment
from services.eligibility.schemas import Month
from shared.money import Yuan
from shared.timestamps import BusinessDate

Count = Annotated[int, Strict()]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeductionsIn(_In):
    """Deductible rigid expenditure of the 12 months (R-DB-2), yuan."""

    medical: Yuan = Field(default=Decimal("0.00"), description="out-of-pocket medical (因病)")
    disability: Yuan = Field(default=Decimal("0.00"), description="因残")
    schooling: Yuan = Field(default=Decimal("0.00"), description="因学")
    epidemic: Yuan = Field(default=Decimal("0.00"), description="因疫")
    employment_cost: Yuan = Field(default=Decimal("0.00"), description="necessary employment costs (必要的就业成本)")


class MemberConditionIn(_In):
    """A member who may qualify for single-person inclusion (R-DB-5)."""

    disability_grade: Count | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None
    serious_illness: bool = False
    own_income_12m: Yuan = Field(default=Decimal("0.00"), description="the member's own income of the 12 months")


class DibaoEvaluateIn(_In):
    """Inputs of the dibao calculator (R-DB-2..6); money in yuan as decimal strings."""

    assessed_on: BusinessDate
    members: Count = Field(ge=1, le=50, description="members living together (共同生活)")
    income_12m: Yuan = Field(description="household income of the last 12 months, yuan")
    deductions_12m: DeductionsIn = Field(default_factory=DeductionsIn)
    financial_assets: Yuan = Field(default=Decimal("0.00"), description="household financial assets (deposits, securities …)")
    disqualifying_assets: list[Annotated[str, Field(max_length=60)]] = Field(default_factory=list, max_length=20)
    member_conditions: list[MemberConditionIn] = Field(default_factory=list, max_length=50)
    registered_poor: bool = Field(False, description="建档立卡 (R-DB-6 gradual exit)")
    previous_benefit: Yuan | None = Field(None, description="current monthly benefit when already in dibao (R-DB-6)")


class SinglePersonOut(BaseModel):
    member_index: int
    basis: str
    own_monthly_income: Yuan
    monthly_benefit: Yuan


class DibaoEvaluateOut(BaseModel):
    """``eligible`` (the household as a whole), ``per_capita_monthly`` (rounded for display only),
    ``monthly_benefit`` (R-DB-4, or R-DB-5's total, or R-DB-6's kept amount), ``outcome`` and the
    trace (inputs, parameter versions, figures, rule ids)."""

    eligible: bool
    outcome: str
    per_capita_monthly: Yuan
    monthly_benefit: Yuan
    single_person_inclusion: bool
    single_person_benefits: list[SinglePersonOut]
    gradual_exit_last_month: Month | None
    last_month: Month | None
    trace: dict[str, Any]


class SupporterCalcIn(_In):
    relation: str = Field(min_length=1, max_length=20)
    able_to_support: bool


class TekunEvaluateIn(_In):
    """Inputs of the tekun calculator (R-TK-1)."""

    assessed_on: BusinessDate
    birth_date: date
    disability_grade: Count | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None
    own_income_12m: Yuan = Decimal("0.00")
    supporters: list[SupporterCalcIn] = Field(default_factory=list, max_length=20)
    school_enrolment: SchoolEnrolment = "none"
    currently_tekun: bool = False
    chose_orphan_allowance: bool = False

    @model_validator(mode="after")
    def _dates(self) -> TekunEvaluateIn:
        if self.birth_date > self.assessed_on:
            raise PydanticCustomError("birth_date", "born after the assessment date")
        return self


class TekunEvaluateOut(BaseModel):
    eligible: bool
    incapacity: list[str]
    no_income_source: bool
    no_able_supporter: bool
    support_until: date | None
    monthly_basic_living: Yuan
    trace: dict[str, Any]


class ParentCalcIn(_In):
    situation: ParentSituation = "none"
    missing_since: BusinessDate | None = None
    disability_grade: Count | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None


class ChildEvaluateIn(_In):
    """Inputs of the orphan / child-without-de-facto-care calculator (R-OR-1, R-OR-2)."""

    assessed_on: BusinessDate
    birth_date: date
    parents: list[ParentCalcIn] = Field(min_length=2, max_length=2)
    school_enrolment: SchoolEnrolment = "none"
    in_institution: bool = False


class ChildEvaluateOut(BaseModel):
    category: str | None
    parent_findings: list[str]
    trace: dict[str, Any]


class RigidIn(_In):
    medical: Yuan = Decimal("0.00")
    disability: Yuan = Decimal("0.00")
    disaster: Yuan = Decimal("0.00")
    epidemic: Yuan = Decimal("0.00")


class MonitoringEvaluateIn(_In):
    """Inputs of the return-to-poverty monitoring calculator (R-RM-1..5)."""

    assessed_on: BusinessDate
    members: Count = Field(ge=1, le=50)
    income_12m: Yuan
    income_prev_12m: Yuan
    income_prev_year: Yuan
    rigid_expenditure_12m: RigidIn = Field(default_factory=RigidIn)
    deductions_12m: Yuan = Decimal("0.00")
    ex_poor: bool = False
    edge: bool = False
    department_data: bool = False
    covered: bool = False


class ReferralSuggestionOut(BaseModel):
    kind: str
    reasons: list[str]
    suggested_amount: Yuan | None


class MonitoringEvaluateOut(BaseModel):
    monitored: bool
    population: list[str]
    flags: list[dict[str, Any]]
    referrals: list[ReferralSuggestionOut]
    trace: dict[str, Any]


class DecisionOut(BaseModel):
    """A decision with its trace: inputs, parameter versions, figures and rule ids."""

    decision_id: uuid.UUID
    household_id: uuid.UUID
    person_id: uuid.UUID | None
    town: str
    category: str
    kind: str
    outcome: str
    assessed_on: date
    effective_month: Month | None
    monthly_amount: Yuan
    benefit_id: uuid.UUID | None
    application_id: uuid.UUID | None
    rules: list[str]
    trace: dict[str, Any]
    decided_by: str
    note: str | None
    created_at: datetime


class BenefitOut(BaseModel):
    benefit_id: uuid.UUID
    household_id: uuid.UUID
    person_id: uuid.UUID
    town: str
    village: str
    category: str
    monthly_amount: Yuan
    amount_basis: str
    members: list[uuid.UUID]
    effective_month: Month
    last_month: Month | None
    status: str
    gradual_exit_until: Month | None
    end_reason: str | None
    decision_id: uuid.UUID
    rule: str
    updated_at: datetime


class DecisionResultOut(BaseModel):
    decision: DecisionOut
    benefits: list[BenefitOut]


class AssessIn(_In):
    assessed_on: BusinessDate | None = Field(None, description="default: today")
    note: str | None = Field(None, max_length=500)


class RosterEntryIn(_In):
    """An existing beneficiary at go-live (存量对象): the decision taken before this system. The
    amount is computed by the rules on ``approved_on`` from the registry's figures."""

    category: Literal["dibao", "tekun", "orphan", "child_without_care", "revolutionary_veteran"]
    person_id: uuid.UUID | None = None
    approved_on: BusinessDate
    effective_month: Month | None = Field(None, description="default: the month after approved_on")
    note: str | None = Field(None, max_length=500)


class EndBenefitIn(_In):
    reason: Literal["withdrawn", "chose_orphan_allowance"]
    last_month: Month
    note: str | None = Field(None, max_length=500)


def decision_out(d: Any) -> DecisionOut:
    return DecisionOut(
        decision_id=d.id, household_id=d.household_id, person_id=d.person_id, town=d.town, category=d.category,
        kind=d.kind, outcome=d.outcome, assessed_on=d.assessed_on, effective_month=d.effective_month,
        monthly_amount=d.monthly_amount, benefit_id=d.benefit_id, application_id=d.application_id, rules=d.rules,
        trace=d.trace, decided_by=d.decided_by, note=d.note, created_at=d.created_at,
    )


def benefit_out(b: Any) -> BenefitOut:
    return BenefitOut(
        benefit_id=b.id, household_id=b.household_id, person_id=b.person_id, town=b.town, village=b.village,
        category=b.category, monthly_amount=b.monthly_amount, amount_basis=b.amount_basis,
        members=[uuid.UUID(m) for m in b.members], effective_month=b.effective_month, last_month=b.last_month,
        status=b.status, gradual_exit_until=b.gradual_exit_until, end_reason=b.end_reason, decision_id=b.decision_id,
        rule=b.rule, updated_at=b.updated_at,
    )


class RecheckOut(BaseModel):
    """A covered household due for its periodic re-check (R-DB-9)."""

    benefit_id: uuid.UUID
    household_id: uuid.UUID
    town: str
    category: str
    assessed_on: date
    interval_months: int
    due_on: date
