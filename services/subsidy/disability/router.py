"""Disability two-subsidies calculator (残疾人两项补贴, R-DS-1/2)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.subsidy.common import Trace, format_month
from services.subsidy.disability import rules
from services.subsidy.disability.schemas import Amounts, DisabilityEvaluateIn, DisabilityEvaluateOut, ReasonOut
from services.subsidy.parameters.service import params_on
from shared.app import get_uow
from shared.auth import Principal, authenticated
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import Problem

router = APIRouter(prefix="/api/v1/subsidy", tags=["disability subsidies"])


@router.post("/disability-subsidies:evaluate", response_model=DisabilityEvaluateOut)
async def evaluate_disability_subsidies(
    body: DisabilityEvaluateIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated),
) -> DisabilityEvaluateOut:
    """Which of the two disability subsidies a person gets for a month, and how much (R-DS-1/2).

    Input ``{"person": {...}, "payment_month": "2020-06"}`` (month optional: the current one);
    output ``{living, nursing, amounts: {living, nursing} (yuan/month), reasons: [{subsidy, code,
    rule, message}], trace}``, storing nothing. Long-term care is ``long_term_care`` or
    ``care_months`` ≥ 6 (parameter); both given and disagreeing is 422 ``long_term_care_conflict``.
    """
    person = body.person
    async with uow:
        month = body.payment_month or local_today(uow.clock).replace(day=1)
        params = await params_on(uow.session, month)
        threshold = params.value("long_term_care_months")
        long_term = bool(person.long_term_care)
        if person.care_months is not None:
            by_months = rules.is_long_term_care(person.care_months, threshold)
            if person.long_term_care is not None and person.long_term_care != by_months:
                raise Problem(422, "long_term_care_conflict",
                              f"long_term_care disagrees with care_months (long-term means {threshold} months or more)")
            long_term = by_months
        nursing = params.value("disability_nursing_subsidy")
        amounts = rules.DisabilityParams(
            living=params.value("disability_living_subsidy"),
            nursing={1: nursing["grade_1"], 2: nursing["grade_2"]},
        )
        verdict = rules.two_subsidies(
            rules.DisabilityPerson(
                in_dibao=person.in_dibao, disability_grade=person.disability_grade, long_term_care=long_term,
                disability_kind=person.disability_kind, tekun=person.tekun, orphan_allowance=person.orphan_allowance,
                child_without_care_allowance=person.child_without_care_allowance,
                work_injury_care_allowance=person.work_injury_care_allowance, deceased_on=person.deceased_on,
                other_living_allowance=person.other_living_allowance, other_nursing_allowance=person.other_nursing_allowance,
            ),
            month, amounts,
        )
    trace = Trace(rule_ids=["R-DS-1", "R-DS-2"])
    trace.inputs = {"person": person.model_dump(mode="json", exclude_none=True), "payment_month": format_month(month)}
    trace.parameters = params.trace()
    trace.figures = {"long_term_care": long_term, "living": f"{verdict.amounts['living']:.2f}",
                     "nursing": f"{verdict.amounts['nursing']:.2f}"}
    trace.steps = [f"{r.subsidy}: {r.code} ({r.rule}) — {r.message}" for r in verdict.reasons] or ["both subsidies payable"]
    return DisabilityEvaluateOut(
        payment_month=month, living=verdict.living, nursing=verdict.nursing,
        amounts=Amounts(living=verdict.amounts["living"], nursing=verdict.amounts["nursing"]),
        reasons=[ReasonOut(subsidy=r.subsidy, code=r.code, rule=r.rule, message=r.message) for r in verdict.reasons],
        trace=trace.as_dict(),
    )
