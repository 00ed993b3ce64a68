"""Wire shapes of the registry API: households, members, incomes, expenditure, assets, history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from services.eligibility.schemas import IdNumber, Month, Name, TownCode, VillageCode
from shared import regions
from shared.ids import mask_id_number
from shared.money import Yuan
from shared.timestamps import BusinessDate

Relation = Literal["head", "spouse", "child", "parent", "grandparent", "grandchild", "sibling", "child_in_law", "other"]
DisabilityKind = Literal["physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple"]
SchoolEnrolment = Literal["none", "compulsory", "high_school", "secondary_vocational", "higher"]
LeftBehind = Literal["child", "elderly", "woman"]
OrphanKind = Literal["institutional", "dispersed"]
ParentSituation = Literal[
    "none", "dead", "missing", "severe_disability", "serious_illness", "imprisoned",
    "compulsory_drug_rehab", "deprived_of_liberty",
]
# R-DB-2: counted sources, and those the national rule excludes from income (优抚金, 计生奖扶,
# scholarships, 见义勇为 awards, social-assistance payments, the disability two subsidies).
COUNTED_SOURCES = ("wages", "business", "agriculture", "property", "pension", "transfer", "support_payment", "other")
EXCLUDED_SOURCES = (
    "youfu_allowance", "family_planning_reward", "scholarship", "heroism_award", "social_assistance", "disability_subsidy",
)
IncomeSource = Literal[
    "wages", "business", "agriculture", "property", "pension", "transfer", "support_payment", "other",
    "youfu_allowance", "family_planning_reward", "scholarship", "heroism_award", "social_assistance", "disability_subsidy",
]
ExpenditureCategory = Literal["medical", "disability", "schooling", "epidemic", "disaster", "employment_cost", "other"]
AssetKind = Literal["deposit", "securities", "insurance", "vehicle", "real_estate", "business", "other"]
FINANCIAL_ASSETS = ("deposit", "securities", "insurance")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SupporterIn(_In):
    """A legal supporter (法定义务人) of a member and whether able to support (R-TK-1)."""

    relation: str = Field(min_length=1, max_length=20, examples=["son"])
    name: Name | None = None
    able_to_support: bool


class ParentIn(_In):
    """A parent's situation, for orphan / child-without-care decisions (R-OR-2)."""

    situation: ParentSituation = "none"
    missing_since: BusinessDate | None = None
    disability_grade: int | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None


class _PersonFields(_In):
    relation: Relation
    living_together: bool = True
    able_to_work: bool = False
    disability_grade: int | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None
    disability_certificate: str | None = Field(None, max_length=40)
    long_term_care: bool = False
    serious_illness: bool = False
    school_enrolment: SchoolEnrolment = "none"
    work_injury_care_allowance: bool = False
    bank_account: str | None = Field(None, pattern=r"^[0-9]{8,30}$")
    left_behind: LeftBehind | None = None
    orphan: OrphanKind | None = None
    child_without_care: bool = False
    revolutionary_veteran: bool = False
    supporters: list[SupporterIn] = Field(default_factory=list, max_length=10)
    parents: list[ParentIn] = Field(default_factory=list, max_length=2)

    @model_validator(mode="after")
    def _disability(self) -> _PersonFields:
        if (self.disability_grade is None) != (self.disability_kind is None):
            raise PydanticCustomError("disability", "disability_grade and disability_kind go together")
        return self


class PersonIn(_PersonFields):
    """A member: resident ID (sex and birth date are read from it), name in any Unicode."""

    id_number: IdNumber
    name: Name


class PersonPatch(_In):
    """Fields of a member to change (only those sent). ``id_number`` corrects a mistyped number."""

    id_number: IdNumber | None = None
    name: Name | None = None
    relation: Relation | None = None
    living_together: bool | None = None
    able_to_work: bool | None = None
    disability_grade: int | None = Field(None, ge=1, le=4)
    disability_kind: DisabilityKind | None = None
    disability_certificate: str | None = Field(None, max_length=40)
    long_term_care: bool | None = None
    serious_illness: bool | None = None
    school_enrolment: SchoolEnrolment | None = None
    work_injury_care_allowance: bool | None = None
    bank_account: str | None = Field(None, pattern=r"^[0-9]{8,30}$")
    left_behind: LeftBehind | None = None
    orphan: OrphanKind | None = None
    child_without_care: bool | None = None
    revolutionary_veteran: bool | None = None
    supporters: list[SupporterIn] | None = Field(None, max_length=10)
    parents: list[ParentIn] | None = Field(None, max_length=2)


class _PeriodIn(_In):
    first_month: Month | None = Field(None, description="default: 12 months before the current month")
    last_month: Month | None = Field(None, description="default: the month before the current month")
    person_id: uuid.UUID | None = None
    id_number: IdNumber | None = Field(None, description="the member concerned (instead of person_id)")

    @model_validator(mode="after")
    def _period(self) -> _PeriodIn:
        if (self.first_month is None) != (self.last_month is None):
            raise PydanticCustomError("period", "give both first_month and last_month, or neither")
        if self.first_month and self.last_month:
            if self.last_month < self.first_month:
                raise PydanticCustomError("period", "last_month is before first_month")
            span = (self.last_month.year - self.first_month.year) * 12 + self.last_month.month - self.first_month.month + 1
            if span > 36:
                raise PydanticCustomError("period", "a period covers at most 36 months")
        return self


class IncomeIn(_PeriodIn):
    """Income over a period (yuan, whole fen) by source; excluded sources are recorded but not
    counted (R-DB-2)."""

    source: IncomeSource
    amount: Yuan


class ExpenditureIn(_PeriodIn):
    """Rigid expenditure over a period (yuan) by category."""

    category: ExpenditureCategory
    amount: Yuan


class AssetIn(_In):
    """An asset (R-DB-3): deposits, securities and insurance count as financial assets."""

    kind: AssetKind
    value: Yuan
    disqualifying: bool = False
    note: str | None = Field(None, max_length=300)


class HouseholdIn(_In):
    """A household to register with its members and data (R-DB-2: members living together)."""

    town: TownCode
    village: VillageCode
    address: str = Field(min_length=1, max_length=300)
    registered_poor: bool = False
    ex_poor: bool = False
    edge: bool = False
    lonely_elderly: bool = False
    irregular_income: bool = False
    members: list[PersonIn] = Field(min_length=1, max_length=30)
    incomes: list[IncomeIn] = Field(default_factory=list, max_length=200)
    expenditures: list[ExpenditureIn] = Field(default_factory=list, max_length=200)
    assets: list[AssetIn] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> HouseholdIn:
        if regions.town_of_village(self.village).code != self.town:
            raise PydanticCustomError("village_not_in_town", "the village is not in the town")
        heads = [m for m in self.members if m.relation == "head"]
        if len(heads) != 1:
            raise PydanticCustomError("head_required", "exactly one member has relation 'head'")
        numbers = [m.id_number for m in self.members]
        if len(set(numbers)) != len(numbers):
            raise PydanticCustomError("duplicate_id_number", "the same ID number appears twice among the members")
        for entry in [*self.incomes, *self.expenditures]:
            if entry.person_id is not None:
                raise PydanticCustomError("unknown_member", "at registration refer to a member by id_number")
            if entry.id_number is not None and entry.id_number not in numbers:
                raise PydanticCustomError("unknown_member", "id_number of an income or expenditure is not a member")
        return self


class HouseholdPatch(_In):
    """Household fields to change (only those sent). Moving to another town goes through the
    public-security move data (``person.moved``), not here."""

    village: VillageCode | None = None
    address: str | None = Field(None, min_length=1, max_length=300)
    registered_poor: bool | None = None
    ex_poor: bool | None = None
    edge: bool | None = None
    lonely_elderly: bool | None = None
    irregular_income: bool | None = None
    head_person_id: uuid.UUID | None = None


class PersonOut(BaseModel):
    """A member's record (personal data: every staff read is audited)."""

    person_id: uuid.UUID
    household_id: uuid.UUID
    id_number: str
    name: str
    sex: str
    birth_date: date
    relation: str
    living_together: bool
    able_to_work: bool
    disability_grade: int | None
    disability_kind: str | None
    disability_certificate: str | None
    long_term_care: bool
    serious_illness: bool
    school_enrolment: str
    work_injury_care_allowance: bool
    bank_account: str | None
    left_behind: str | None
    orphan: str | None
    child_without_care: bool
    revolutionary_veteran: bool
    supporters: list[dict]
    parents: list[dict]
    status: str
    deceased_on: date | None
    moved_on: date | None
    self_care_level: str | None = Field(None, description="R-TK-2 level as the care service last assessed it (care.selfcare.assessed)")
    self_care_assessed_on: date | None = None
    created_at: datetime
    updated_at: datetime


class IncomeOut(BaseModel):
    id: int
    person_id: uuid.UUID | None
    source: str
    counted: bool
    first_month: Month
    last_month: Month
    amount: Yuan
    reported_by: str


class ExpenditureOut(BaseModel):
    id: int
    person_id: uuid.UUID | None
    category: str
    first_month: Month
    last_month: Month
    amount: Yuan
    reported_by: str


class AssetOut(BaseModel):
    id: int
    kind: str
    value: Yuan
    financial: bool
    disqualifying: bool
    note: str | None


class HouseholdSummary(BaseModel):
    """A household without personal data (lists)."""

    household_id: uuid.UUID
    town: str
    village: str
    registered_poor: bool
    ex_poor: bool
    edge: bool
    lonely_elderly: bool
    status: str
    member_count: int
    revision: int
    updated_at: datetime


class HouseholdOut(BaseModel):
    household_id: uuid.UUID
    town: str
    village: str
    address: str
    registered_poor: bool
    ex_poor: bool
    edge: bool
    lonely_elderly: bool
    irregular_income: bool
    department_data: bool
    head_person_id: uuid.UUID | None
    status: str
    revision: int
    members: list[PersonOut]
    incomes: list[IncomeOut]
    expenditures: list[ExpenditureOut]
    assets: list[AssetOut]
    created_at: datetime
    updated_at: datetime


MaskedIdNumber = Annotated[str, AfterValidator(mask_id_number), Field(examples=["350***********1234"])]


class PersonReducedOut(BaseModel):
    """A member as a role that needs no financial data sees it (village officers, care workers):
    the ID number masked (first 3 and last 4 characters), no bank account. Built from a
    ``PersonOut`` (``model_validate(full, from_attributes=True)``): what is not declared here is
    not sent."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")  # unambiguous in a union with the full view

    person_id: uuid.UUID
    household_id: uuid.UUID
    id_number: MaskedIdNumber
    name: str
    sex: str
    birth_date: date
    relation: str
    living_together: bool
    able_to_work: bool
    disability_grade: int | None
    disability_kind: str | None
    long_term_care: bool
    serious_illness: bool
    school_enrolment: str
    left_behind: str | None
    orphan: str | None
    child_without_care: bool
    status: str
    deceased_on: date | None
    moved_on: date | None
    self_care_level: str | None = None
    self_care_assessed_on: date | None = None
    updated_at: datetime


class HouseholdReducedOut(BaseModel):
    """A household as a village officer or care worker sees it: its members in the reduced view
    and no incomes, expenditure or assets (yuan figures are for those who assess them)."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")  # unambiguous in a union with the full view

    household_id: uuid.UUID
    town: str
    village: str
    address: str
    registered_poor: bool
    ex_poor: bool
    edge: bool
    lonely_elderly: bool
    head_person_id: uuid.UUID | None
    status: str
    revision: int
    members: list[PersonReducedOut]
    updated_at: datetime


class HistoryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    client: str | None
    action: str
    person_id: uuid.UUID | None
    changes: dict


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    roles: list[str]
    town: str | None
    client: str | None
    action: str
    record_type: str
    record_id: uuid.UUID
    household_id: uuid.UUID | None
    request_id: str | None
    path: str


class IdNumberIn(BaseModel):
    id_number: str = Field(max_length=64, examples=["350505198001011234"])


class IdNumberOut(BaseModel):
    """A valid resident ID number, normalised, and what it encodes."""

    valid: bool
    normalised: str
    birth_date: date
    sex: str
    region_code: str


class TownPopulationIn(_In):
    year: int = Field(ge=2000, le=2100)
    registered_population: int = Field(ge=1, le=10_000_000)


class TownOut(BaseModel):
    """A town's registered population and its dibao coverage (R-DB-8)."""

    town: str
    name: str
    year: int | None
    registered_population: int | None
    dibao_households: int
    dibao_members: int
    coverage_rate: str | None = Field(None, description="dibao members per 100 registered residents (percent, two places)")


class BulkHouseholdsIn(BaseModel):
    """A batch of households (JSON); each is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    households: list[dict] = Field(min_length=1, max_length=5000)


class BulkRowReport(BaseModel):
    row: int
    ref: str | None = None
    status: Literal["registered", "rejected"]
    household_id: uuid.UUID | None = None
    errors: list[dict] = Field(default_factory=list)


class BulkReport(BaseModel):
    total: int
    registered: int
    rejected: int
    rows: list[BulkRowReport]
