"""Policy of temporary-relief cases (临时救助), pure functions (no I/O).

Rules: R-TR-1 (two types), R-TR-2 (5-working-day SLA), R-TR-5 (relief first, papers later),
R-TR-6 (non-local applicants, vagrants), R-EP-1 (contact methods of checks). Working-day
arithmetic uses :mod:`shared.calendar`; the calendar object is passed in, numbers (working days)
are versioned parameters passed in too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from shared.calendar import Deadline, WorkingDayCalendar, working_day_deadline

CaseKind = Literal["emergency", "expenditure"]
ApplicantType = Literal["registered", "non_local", "vagrant"]
NonLocalCategory = Literal["migrant_worker", "floating_population"]
ContactMethod = Literal["phone", "wechat", "home_visit"]
CaseStatus = Literal["suggested", "open", "approved", "paid", "refused", "referred"]
SlaState = Literal["on_track", "at_risk", "breached", "met", "not_applicable"]
Cause = Literal[
    "accident", "disaster", "acute_illness", "epidemic", "medical_expense", "disability_expense",
    "education_expense", "job_loss", "other",
]

KINDS: tuple[CaseKind, ...] = ("emergency", "expenditure")
CONTACT_METHODS: tuple[ContactMethod, ...] = ("phone", "wechat", "home_visit")
# Cases still waiting for money: the SLA clock runs for them.
OPEN_STATUSES: tuple[CaseStatus, ...] = ("open", "approved")

# R-TR-1 / R-TR-5: the documents of each type's file (申请材料清单).
DOCUMENTS: dict[str, str] = {
    "application": "申请书 (written application)",
    "id_card": "身份证 (resident ID card)",
    "household_register": "户口簿 (household register)",
    "income_statement": "家庭收入及财产声明 (income and assets statement)",
    "incident_proof": "事故、灾害或急病证明 (proof of the accident, disaster or acute illness)",
    "expense_receipts": "医疗、教育等刚性支出票据 (receipts of rigid expenditure)",
    "bank_account": "收款账户 (payee bank account)",
    "investigation_report": "入户调查或核查记录 (investigation / check record)",
}
REQUIRED_DOCUMENTS: dict[CaseKind, tuple[str, ...]] = {
    "emergency": ("application", "id_card", "incident_proof", "bank_account"),
    "expenditure": ("application", "id_card", "household_register", "income_statement", "expense_receipts", "bank_account"),
}


class CaseRuleError(ValueError):
    """A case that breaks a rule; ``code`` is the API's problem code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_applicant(kind: CaseKind, applicant_type: ApplicantType) -> None:
    """R-TR-6: a non-local applicant (外来务工人员、流动人口) gets *emergency* relief directly, with no
    local household registration required — so a non-local case must be of type ``emergency``
    (code ``non_local_emergency_only``; expenditure-type relief rests on the household's registered
    means). A vagrant is referred to the rescue station instead (see :func:`initial_status`)."""
    if applicant_type == "non_local" and kind != "emergency":
        raise CaseRuleError("non_local_emergency_only", "a non-local applicant gets emergency-type relief (R-TR-6)")


def initial_status(applicant_type: ApplicantType) -> CaseStatus:
    """R-TR-6: a vagrant (流浪乞讨人员) is recorded as referred to the district rescue station
    (救助站) — no relief case runs; every other accepted case starts ``open``."""
    return "referred" if applicant_type == "vagrant" else "open"


def sla_applies(kind: CaseKind) -> bool:
    """R-TR-2: the 5-working-day disbursement deadline binds emergency relief (救难型/急难型)."""
    return kind == "emergency"


def checklist(kind: CaseKind, received: Mapping[str, bool] | None = None) -> list[dict[str, object]]:
    """The documents checklist of a case of ``kind``: every required document, plus any other
    listed in ``received``, each with whether it was received."""
    received = dict(received or {})
    codes = list(REQUIRED_DOCUMENTS[kind]) + [c for c in received if c not in REQUIRED_DOCUMENTS[kind]]
    return [{"code": c, "required": c in REQUIRED_DOCUMENTS[kind], "received": bool(received.get(c, False))} for c in codes]


def missing_documents(kind: CaseKind, documents: Iterable[Mapping[str, object]]) -> list[str]:
    """The required documents of ``kind`` not received, in checklist order (R-TR-5)."""
    received = {str(d["code"]) for d in documents if d.get("received")}
    return [c for c in REQUIRED_DOCUMENTS[kind] if c not in received]


def may_approve_with_missing_documents(kind: CaseKind) -> bool:
    """R-TR-5 先行救助、后补手续: an emergency case may be approved and paid before its file is
    complete; an expenditure-type case may not."""
    return kind == "emergency"


@dataclass(frozen=True)
class SlaDeadline:
    """R-TR-2 timing of one case: ``deadline_at`` = 24:00 Asia/Shanghai of ``deadline_date`` (the
    ``working_days``-th working day after acceptance); ``at_risk_at`` = the instant when
    ``at_risk_working_days`` working days remain (24:00 of the working day before them, or the
    acceptance itself if the whole term is shorter); ``provisional`` when a year with no official
    arrangement (Monday–Friday fallback) was used."""

    deadline_date: date
    deadline_at: datetime
    at_risk_at: datetime
    provisional: bool
    working_days: int


def sla_deadline(
    accepted_at: datetime, *, working_days: int, at_risk_working_days: int, calendar: WorkingDayCalendar
) -> SlaDeadline:
    """R-TR-2: deadline and warning instant of a case accepted at ``accepted_at`` (aware).

    Counting starts on the first working day after the acceptance date in Asia/Shanghai; the
    deadline is 24:00 of the ``working_days``-th (5); the warning falls when
    ``at_risk_working_days`` (1) remain, i.e. at 24:00 of the (5 − 1)-th. Never raises for a
    future year: that year falls back to Monday–Friday and the result is provisional.
    """
    deadline = working_day_deadline(accepted_at, working_days, calendar)
    before = working_days - at_risk_working_days
    if before >= 1:
        warning = working_day_deadline(accepted_at, before, calendar)
        at_risk_at, provisional = warning.deadline_at, deadline.provisional or warning.provisional
    else:
        at_risk_at, provisional = accepted_at, deadline.provisional
    return SlaDeadline(
        deadline_date=deadline.deadline_date, deadline_at=deadline.deadline_at, at_risk_at=at_risk_at,
        provisional=provisional, working_days=working_days,
    )


def sla_state(
    *, status: str, now: datetime, deadline_at: datetime | None, at_risk_at: datetime | None, paid_at: datetime | None
) -> SlaState:
    """R-TR-2 state of a case at ``now``: ``met`` (paid by the deadline), ``breached`` (paid late,
    or unpaid at/after the deadline), ``at_risk`` (unpaid, the warning instant passed),
    ``on_track`` (unpaid, before the warning) or ``not_applicable`` (no SLA: expenditure-type,
    suggested, refused or referred)."""
    if deadline_at is None:
        return "not_applicable"
    if status == "paid":
        return "met" if paid_at is not None and paid_at <= deadline_at else "breached"
    if status not in OPEN_STATUSES:
        return "not_applicable"
    if now >= deadline_at:
        return "breached"
    if at_risk_at is not None and now >= at_risk_at:
        return "at_risk"
    return "on_track"


def paperwork_deadline(approved_at: datetime, *, working_days: int, calendar: WorkingDayCalendar) -> Deadline:
    """R-TR-5: missing documents of a case approved at ``approved_at`` before its file was complete
    are due by 24:00 Asia/Shanghai of the ``working_days``-th (10) working day after that; a
    :class:`shared.calendar.Deadline` (provisional when a fallback year was used)."""
    return working_day_deadline(approved_at, working_days, calendar)
