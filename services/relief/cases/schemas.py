"""Request and response bodies of the relief-case API."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from services.relief.cases.rules import DOCUMENTS, ApplicantType, CaseKind, Cause, ContactMethod, NonLocalCategory, SlaState
from services.relief.schemas import IdNumber, LocalDatetime, ReliefAmount, TownCode, VillageCode
from shared.money import Yuan
from shared.regions import town_of_village
from shared.timestamps import BusinessDatetime

DocumentCode = Literal[tuple(DOCUMENTS)]  # type: ignore[valid-type]


class ApplicantIn(BaseModel):
    """Who applies (R-TR-6).

    - ``registered``: a person of eligibility's registry, by ``person_id`` or ``id_number``;
    - ``non_local``: a migrant worker or member of the floating population (外来务工人员、流动人口),
      no local registration needed: ``name``, ``id_number`` (validated) and ``category``;
    - ``vagrant``: a vagrant (流浪乞讨人员), recorded as referred to the rescue station; ``name``
      and ``id_number`` optional.
    """

    model_config = ConfigDict(extra="forbid")

    type: ApplicantType
    person_id: str | None = Field(None, max_length=64)
    id_number: IdNumber | None = None
    name: str | None = Field(None, min_length=1, max_length=100)
    category: NonLocalCategory | None = None

    @model_validator(mode="after")
    def _complete(self) -> ApplicantIn:
        if self.type == "registered" and not (self.person_id or self.id_number):
            raise PydanticCustomError("applicant_incomplete", "a registered applicant needs person_id or id_number")
        if self.type == "non_local" and not (self.name and self.id_number and self.category):
            raise PydanticCustomError("applicant_incomplete", "a non-local applicant needs name, id_number and category")
        return self


class DocumentIn(BaseModel):
    """One line of the documents checklist: document ``code`` and whether it was ``received``."""

    model_config = ConfigDict(extra="forbid")

    code: DocumentCode
    received: bool


class CheckIn(BaseModel):
    """A check of the applicant's situation (R-EP-1) by ``phone``, ``wechat`` or ``home_visit``;
    ``checked_at`` defaults to now."""

    model_config = ConfigDict(extra="forbid")

    method: ContactMethod
    checked_at: BusinessDatetime | None = None
    note: str | None = Field(None, max_length=2000)


class CaseIn(BaseModel):
    """A temporary-relief application accepted by a town (受理).

    ``kind``: ``emergency`` (急难型) or ``expenditure`` (支出型) (R-TR-1); ``amount``: yuan
    requested (required except for a vagrant), ≤ the case cap (5,000, R-TR-3); ``accepted_at``
    (default now; not in the future) starts the SLA of an emergency case (R-TR-2).
    """

    model_config = ConfigDict(extra="forbid")

    kind: CaseKind
    town: TownCode
    village: VillageCode | None = None
    applicant: ApplicantIn
    amount: ReliefAmount | None = None
    cause: Cause
    reason: str = Field(min_length=1, max_length=2000)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=20)
    checks: list[CheckIn] = Field(default_factory=list, max_length=20)
    accepted_at: BusinessDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CaseIn:
        if self.village is not None and town_of_village(self.village).code != self.town:
            raise PydanticCustomError("village_not_in_town", "the village is not in this town")
        if self.amount is None and self.applicant.type != "vagrant":
            raise PydanticCustomError("amount_required", "the amount requested is required")
        return self


class AcceptIn(BaseModel):
    """Acceptance of a suggested case (from an eligibility referral): the applicant (a member of the
    referred household), the amount and the file; ``kind`` may change the suggested type."""

    model_config = ConfigDict(extra="forbid")

    kind: CaseKind | None = None
    applicant: ApplicantIn
    amount: ReliefAmount
    cause: Cause
    reason: str = Field(min_length=1, max_length=2000)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=20)
    accepted_at: BusinessDatetime | None = None


class ApprovalIn(BaseModel):
    """Approve a case for ``amount`` yuan (default: the amount requested); the approver's tier
    follows the amount (R-TR-3)."""

    model_config = ConfigDict(extra="forbid")

    amount: ReliefAmount | None = None
    note: str | None = Field(None, max_length=2000)


class RefusalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class PaymentIn(BaseModel):
    """The payment of an approved case: the bank or finance ``reference``; ``amount`` (optional)
    must equal the amount approved."""

    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=1, max_length=100)
    amount: ReliefAmount | None = None


class DocumentsIn(BaseModel):
    """Documents received (or not) since: merged into the checklist."""

    model_config = ConfigDict(extra="forbid")

    documents: list[DocumentIn] = Field(min_length=1, max_length=20)


class ApplicantOut(BaseModel):
    type: ApplicantType
    category: NonLocalCategory | None
    person_id: str | None
    household_id: str | None
    name: str | None
    id_number: str | None = Field(description="full for a case read by staff (audited), masked in lists")


class SlaOut(BaseModel):
    """R-TR-2 of an emergency case: ``state`` now; the deadline (24:00 Asia/Shanghai of
    ``deadline_date``); the warning instant; ``provisional`` when the deadline uses a year with no
    official calendar; when each notification fired."""

    state: SlaState
    working_days: int | None
    deadline_date: date | None
    deadline_at: LocalDatetime | None
    at_risk_at: LocalDatetime | None
    provisional: bool
    at_risk_notified_at: LocalDatetime | None
    breach_notified_at: LocalDatetime | None


class PaperworkOut(BaseModel):
    """R-TR-5: documents missing, and their own deadline when the case was approved without them."""

    missing: list[str]
    working_days: int | None
    due_date: date | None
    due_at: LocalDatetime | None
    provisional: bool
    completed_at: LocalDatetime | None
    overdue_notified_at: LocalDatetime | None


class PaymentOut(BaseModel):
    amount: Yuan
    reference: str
    fund: Literal["town_reserve", "district"]
    reserve_year: int | None
    paid_at: LocalDatetime
    recorded_by: str


class DocumentOut(BaseModel):
    code: str
    required: bool
    received: bool


class CaseOut(BaseModel):
    """A relief case. Money in yuan; instants RFC 3339."""

    id: str
    kind: CaseKind
    status: Literal["suggested", "open", "approved", "paid", "refused", "referred"]
    town: str
    village: str | None
    applicant: ApplicantOut
    cause: str | None
    reason: str | None
    amount_requested: Yuan | None
    suggested_amount: Yuan | None
    amount_approved: Yuan | None
    approver: Literal["town", "district"] | None
    documents: list[DocumentOut]
    referral_id: str | None
    referred_to: str | None
    accepted_at: LocalDatetime | None
    approved_at: LocalDatetime | None
    refused_at: LocalDatetime | None
    refusal_reason: str | None
    paid_at: LocalDatetime | None
    sla: SlaOut
    paperwork: PaperworkOut
    payment: PaymentOut | None
    parameters_used: list[dict[str, Any]]
    created_at: LocalDatetime
    updated_at: LocalDatetime


class CheckOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    method: ContactMethod
    checked_at: LocalDatetime
    checked_by: str
    note: str | None


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: LocalDatetime
    action: str
    actor: str
    detail: dict[str, Any] | None


class TimerOut(BaseModel):
    """A persisted timer: ``outcome`` fired (with ``event_id``) or skipped once ``fired_at`` is set."""

    model_config = ConfigDict(from_attributes=True)

    kind: Literal["sla_at_risk", "sla_breach", "paperwork_overdue"]
    due_at: LocalDatetime
    fired_at: LocalDatetime | None
    outcome: Literal["fired", "skipped"] | None
    event_id: str | None


class SlaCounts(BaseModel):
    on_track: int = 0
    at_risk: int = 0
    breached: int = 0
    met: int = 0

    @property
    def total(self) -> int:
        return self.on_track + self.at_risk + self.breached + self.met


class SlaTownOut(SlaCounts):
    town: str
    town_name: str
    compliance_rate: str | None = Field(None, description="met / (met + breached), 4 places; null with none closed")


class SlaSummaryOut(BaseModel):
    """Emergency cases by R-TR-2 state at ``as_of``, per town and for the district."""

    as_of: LocalDatetime
    year: int | None
    towns: list[SlaTownOut]
    district: SlaTownOut


class SlaEvaluateIn(BaseModel):
    """R-TR-2 calculator input: the acceptance instant (with offset)."""

    model_config = ConfigDict(extra="forbid")

    accepted_at: BusinessDatetime


class SlaEvaluateOut(BaseModel):
    deadline_date: date
    deadline_at: LocalDatetime
    at_risk_at: LocalDatetime
    provisional: bool
    working_days: int
    trace: dict[str, Any]


class PaperworkEvaluateIn(BaseModel):
    """R-TR-5 calculator input: when the case was approved with documents missing."""

    model_config = ConfigDict(extra="forbid")

    approved_at: BusinessDatetime


class PaperworkEvaluateOut(BaseModel):
    due_date: date
    due_at: LocalDatetime
    provisional: bool
    working_days: int
    trace: dict[str, Any]
