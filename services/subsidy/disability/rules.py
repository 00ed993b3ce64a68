"""Disability "two subsidies" (残疾人两项补贴): pure rules R-DS-1/2. No I/O, Decimal money.

Living subsidy (困难残疾人生活补贴): disabled members of dibao households. Nursing subsidy
(重度残疾人护理补贴): disability grade 1–2 needing long-term care (6 months or more). The monthly
comparison (数据比对, R-DS-2) removes: tekun persons (neither), work-injury care allowance
(neither), orphan / child-without-care allowance (no living subsidy, nursing allowed), death (no
payment for a month after the month of death), and a same-kind allowance at least as high (择高).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

Subsidy = Literal["living", "nursing"]
DISABILITY_KINDS = ("physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple")
ZERO = Decimal("0.00")

# code → (rule, message); codes are part of the API (reasons[].code) and of run reports.
REASONS: dict[str, tuple[str, str]] = {
    "not_disabled": ("R-DS-1", "no disability grade on record"),
    "not_in_dibao": ("R-DS-1", "the living subsidy is for members of dibao households"),
    "grade_not_severe": ("R-DS-1", "the nursing subsidy is for disability grade 1 or 2"),
    "no_long_term_care": ("R-DS-1", "the nursing subsidy needs long-term care (6 months or more)"),
    "tekun": ("R-DS-2", "persons in tekun support get neither subsidy"),
    "work_injury_care_allowance": ("R-DS-2", "persons receiving the work-injury care allowance get neither subsidy"),
    "orphan_allowance": ("R-DS-2", "a child receiving the orphan or child-without-care allowance gets no living subsidy"),
    "deceased": ("R-DS-2", "no payment for a month after the month of death"),
    "higher_same_kind_allowance": ("R-DS-2", "an allowance of the same kind at least as high is paid instead (择高)"),
}


@dataclass(frozen=True)
class DisabilityPerson:
    """A person's situation for the payment month.

    ``other_living_allowance`` / ``other_nursing_allowance``: a monthly old-age, work-disability or
    retirement allowance of the same kind paid by another scheme (yuan), for the 择高 rule.
    """

    in_dibao: bool
    disability_grade: int | None
    long_term_care: bool
    disability_kind: str | None = None
    tekun: bool = False
    orphan_allowance: bool = False
    child_without_care_allowance: bool = False
    work_injury_care_allowance: bool = False
    deceased_on: date | None = None
    other_living_allowance: Decimal | None = None
    other_nursing_allowance: Decimal | None = None


@dataclass(frozen=True)
class DisabilityParams:
    """Amounts in force for the month: ``living`` (yuan/month) and ``nursing`` by grade (1, 2)."""

    living: Decimal
    nursing: Mapping[int, Decimal]


@dataclass(frozen=True)
class Reason:
    subsidy: Subsidy
    code: str

    @property
    def rule(self) -> str:
        return REASONS[self.code][0]

    @property
    def message(self) -> str:
        return REASONS[self.code][1]


@dataclass(frozen=True)
class TwoSubsidies:
    """The verdict: ``living``/``nursing`` payable, their ``amounts`` (0.00 when not payable), and
    every ``reasons`` entry that made one not payable, in the order checked."""

    living: bool
    nursing: bool
    amounts: Mapping[Subsidy, Decimal]
    reasons: tuple[Reason, ...] = field(default_factory=tuple)


def is_long_term_care(care_months: int, threshold_months: int) -> bool:
    """R-DS-2: long-term care means care needed for ``threshold_months`` (6) months or more."""
    return care_months >= threshold_months


def paid_for_month(deceased_on: date | None, payment_month: date) -> bool:
    """No payment for a month after the month of death; the month of death itself is paid."""
    return deceased_on is None or (deceased_on.year, deceased_on.month) >= (payment_month.year, payment_month.month)


def two_subsidies(person: DisabilityPerson, payment_month: date, params: DisabilityParams) -> TwoSubsidies:
    """R-DS-1/2: which of the two subsidies are payable for ``payment_month``, and how much.

    Entitlement first (R-DS-1), then the comparison's exclusions (R-DS-2); every failed condition
    is reported, so a caseworker sees all the reasons at once.
    """
    living: list[str] = []
    nursing: list[str] = []
    grade = person.disability_grade
    if grade is None:
        living.append("not_disabled")
        nursing.append("not_disabled")
    else:
        if not person.in_dibao:
            living.append("not_in_dibao")
        if grade not in (1, 2):
            nursing.append("grade_not_severe")
        if not person.long_term_care:
            nursing.append("no_long_term_care")
    if person.tekun:
        living.append("tekun")
        nursing.append("tekun")
    if person.work_injury_care_allowance:
        living.append("work_injury_care_allowance")
        nursing.append("work_injury_care_allowance")
    if person.orphan_allowance or person.child_without_care_allowance:
        living.append("orphan_allowance")
    if not paid_for_month(person.deceased_on, payment_month):
        living.append("deceased")
        nursing.append("deceased")

    living_amount = params.living
    nursing_amount = params.nursing.get(grade, ZERO) if grade is not None else ZERO
    if not living and person.other_living_allowance is not None and person.other_living_allowance >= living_amount:
        living.append("higher_same_kind_allowance")
    if not nursing and person.other_nursing_allowance is not None and person.other_nursing_allowance >= nursing_amount:
        nursing.append("higher_same_kind_allowance")

    reasons = tuple(Reason("living", c) for c in living) + tuple(Reason("nursing", c) for c in nursing)
    return TwoSubsidies(
        living=not living,
        nursing=not nursing,
        amounts={"living": living_amount if not living else ZERO, "nursing": nursing_amount if not nursing else ZERO},
        reasons=reasons,
    )
