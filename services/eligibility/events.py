"""The events this service produces (docs/events.md, eligibility section): one pydantic model per
type. Consumers keep their own projections from them; fields are only ever added.

Money is a decimal string in yuan (``"720.00"``), months ``YYYY-MM``, dates ``YYYY-MM-DD``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer

from shared.clock import SHANGHAI
from shared.money import format_yuan

Money = Annotated[Decimal, PlainSerializer(format_yuan, return_type=str)]
Month = Annotated[date, PlainSerializer(lambda d: f"{d.year:04d}-{d.month:02d}", return_type=str)]
# An instant with the +08:00 offset (Asia/Shanghai), as business instants are shown.
Instant = Annotated[datetime, PlainSerializer(lambda d: d.astimezone(SHANGHAI).isoformat(), return_type=str)]

HOUSEHOLD_REGISTERED = "eligibility.household.registered"
HOUSEHOLD_CHANGED = "eligibility.household.changed"
BENEFIT_GRANTED = "eligibility.benefit.granted"
BENEFIT_CHANGED = "eligibility.benefit.changed"
BENEFIT_ENDED = "eligibility.benefit.ended"
PERSON_DECEASED = "eligibility.person.deceased"
PERSON_MOVED = "eligibility.person.moved"
RISK_FLAGGED = "eligibility.risk.flagged"
REFERRAL_CREATED = "eligibility.referral.created"
APPLICATION_DEADLINE_BREACHED = "eligibility.application.deadline_breached"
APPLICATION_DEADLINE_AT_RISK = "eligibility.application.deadline_at_risk"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


class PersonData(_Event):
    """A member as the other services project it (docs/events.md ``person``)."""

    person_id: str
    name: str
    id_number: str
    sex: str
    birth_date: date
    relation: str
    disability_grade: int | None
    disability_kind: str | None
    long_term_care: bool
    serious_illness: bool
    school_enrolment: str
    work_injury_care_allowance: bool
    bank_account: str | None
    deceased_on: date | None
    left_behind: str | None
    orphan: str | None
    child_without_care: bool
    revolutionary_veteran: bool
    # Added fields (consumers may ignore them):
    status: str  # active, deceased, moved_away
    living_together: bool


class HouseholdData(_Event):
    """``eligibility.household.registered`` / ``.changed``: the full current state."""

    household_id: str
    town: str
    village: str
    registered_poor: bool
    ex_poor: bool
    edge: bool
    lonely_elderly: bool
    members: list[PersonData]
    # Added fields:
    head_person_id: str | None
    revision: int


class BenefitData(_Event):
    """``eligibility.benefit.granted``; ``.changed`` adds ``previous_amount``."""

    benefit_id: str
    household_id: str
    person_id: str
    category: str
    monthly_amount: Money
    effective_month: Month
    members: list[str]
    town: str
    village: str
    decision_id: str
    rule: str
    # Added fields: "rule" = amount computed here (R-DB-4/5, R-TK-2); "payer_standard" = the
    # paying service applies its own standard (orphans, children without care, veterans: R-OR-1,
    # R-OA-1) and monthly_amount is "0.00".
    amount_basis: str
    status: str  # active, gradual_exit
    gradual_exit_until: Month | None = None


class BenefitChangedData(BenefitData):
    previous_amount: Money
    # Added: why it changed (reassessment, standard_change, member_deceased, member_moved,
    # gradual_exit_started, payee_changed).
    change_reason: str


class BenefitEndedData(_Event):
    benefit_id: str
    household_id: str
    person_id: str
    category: str
    last_month: Month
    reason: str
    # Added fields:
    decision_id: str | None
    town: str


class PersonDeceasedData(_Event):
    person_id: str
    household_id: str
    died_on: date
    town: str


class PersonMovedData(_Event):
    person_id: str
    household_id: str
    from_town: str
    to_town: str | None  # None: moved out of the district
    moved_on: date
    # Added: the household the person belongs to now (None when out of the district).
    to_household_id: str | None


class RiskFlagData(_Event):
    rule: str
    code: str
    figures: dict[str, Any]


class RiskFlaggedData(_Event):
    household_id: str
    town: str
    covered: bool
    flags: list[RiskFlagData]
    # Added: the assessment's id and date.
    assessment_id: int
    assessed_on: date


class ReferralCreatedData(_Event):
    referral_id: str
    household_id: str
    town: str
    kind: str
    reasons: list[str]
    suggested_amount: Money | None


class DeadlineBreachedData(_Event):
    application_id: str
    household_id: str
    town: str
    category: str
    step: str
    due_date: date
    provisional: bool


class DeadlineAtRiskData(_Event):
    """``eligibility.application.deadline_at_risk``: one working day remains before a step's
    deadline (R-DB-9 / R-TK-1, warned like R-TR-2); sent once per step deadline."""

    application_id: str
    household_id: str
    town: str
    category: str
    step: str
    due_date: date
    due_at: Instant
    at_risk_at: Instant
    provisional: bool
