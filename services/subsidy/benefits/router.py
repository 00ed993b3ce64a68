"""Calculators of the monthly benefit amounts the payment runs pay (store nothing)."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends

from services.subsidy.benefits import rules
from services.subsidy.benefits.schemas import AmountOut, DibaoPaymentIn, OrphanAllowanceIn, TekunSupportIn, VeteranAllowanceIn
from services.subsidy.common import Trace
from services.subsidy.parameters.service import Params, params_on
from shared.app import get_uow
from shared.auth import Principal, authenticated
from shared.db import UnitOfWork

router = APIRouter(prefix="/api/v1/subsidy", tags=["benefit amounts"])


def _out(month, amount: Decimal, trace: Trace, params: Params, parts: dict | None = None, payable: bool = True) -> AmountOut:
    trace.parameters = params.trace()
    trace.figures["amount"] = f"{amount:.2f}"
    return AmountOut(month=month, payable=payable, amount=amount, parts=parts or {}, trace=trace.as_dict())


@router.post("/dibao-payment:evaluate", response_model=AmountOut)
async def evaluate_dibao_payment(body: DibaoPaymentIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)) -> AmountOut:
    """Dibao benefit paid for a month (低保补差, R-DB-4; R-DB-5 with members = 1; R-DB-6).

    Amount (yuan/month) = standard of the month × members − net_income_12m / 12, rounded half-up to
    the fen once, not below 0; in gradual exit the kept amount. Stores nothing.
    """
    async with uow:
        params = await params_on(uow.session, body.month)
        standard = params.value("dibao_standard")
    trace = Trace(rule_ids=["R-DB-4"] + (["R-DB-5"] if body.members == 1 else []))
    trace.inputs = body.model_dump(mode="json")
    if body.gradual_exit_amount is not None:
        trace.rule("R-DB-6")
        trace.steps.append("gradual exit: the previous benefit is kept")
        return _out(body.month, body.gradual_exit_amount, trace, params)
    amount = rules.dibao_gap(standard=standard, members=body.members, net_income_12m=body.net_income_12m)
    trace.figures.update({"standard": f"{standard:.2f}", "net_monthly_income": str(body.net_income_12m / 12)})
    trace.steps.append(f"{standard:.2f} × {body.members} − {body.net_income_12m:.2f} / 12 = {amount:.2f} (half-up, not below 0)")
    return _out(body.month, amount, trace, params)


@router.post("/tekun-support:evaluate", response_model=AmountOut)
async def evaluate_tekun_support(body: TekunSupportIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)) -> AmountOut:
    """Tekun support for a month (特困供养, R-TK-2): basic living = 1.3 × dibao standard plus the care
    tier of the self-care level; with ``centralized`` the institution's fees and what the district
    pays beyond the person's entitlements (R-TK-4, ``parts.district_pays``). Yuan/month."""
    async with uow:
        params = await params_on(uow.session, body.month)
        amounts = rules.tekun_amounts(
            standard=params.value("dibao_standard"), basic_factor=params.value("tekun_basic_factor"),
            care_tiers=params.value("tekun_care_standard"), level=body.self_care_level,
        )
        fees = params.value("centralized_support_fees") if body.centralized else None
    trace = Trace(rule_ids=["R-TK-2"])
    trace.inputs = body.model_dump(mode="json")
    parts = {"basic": amounts.basic, "care": amounts.care}
    trace.steps.append(f"basic {amounts.basic:.2f} + care tier ({amounts.level}) {amounts.care:.2f}")
    if fees is not None:
        trace.rule("R-TK-4")
        result = rules.centralized_support_shortfall(
            fees=fees, level=amounts.level, entitlements=amounts.total + body.other_entitlements)
        parts.update({"fee_bed": result.bed, "fee_nursing": result.nursing, "fee_living": result.living,
                      "district_pays": result.district_pays})
        trace.steps.append(f"fees {result.total:.2f} − entitlements {result.entitlements:.2f} → district pays {result.district_pays:.2f}")
    return _out(body.month, amounts.total, trace, params, parts)


@router.post("/orphan-allowance:evaluate", response_model=AmountOut)
async def evaluate_orphan_allowance(body: OrphanAllowanceIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)) -> AmountOut:
    """Orphan / child-without-care allowance for a month (孤儿、事实无人抚养儿童基本生活费, R-OR-1/2):
    the institutional or dispersed standard grown yearly; a child without de-facto care gets the
    dispersed standard, as a top-up over ``already_received``; nothing after 18 unless in high
    school or secondary vocational school (``payable`` false). Yuan/month."""
    async with uow:
        params = await params_on(uow.session, body.month)
        base = params.get("orphan_standard")
        rate = params.value("orphan_growth_rate")
        adult_age = params.value("orphan_adult_age")
    part = "institutional" if body.kind == "institutional" else "dispersed"
    standard = rules.grown_standard(base=base.value[part], base_year=base.valid_from.year, rate=rate, year=body.month.year)
    trace = Trace(rule_ids=["R-OR-1"])
    trace.inputs = body.model_dump(mode="json")
    trace.figures["standard"] = f"{standard:.2f}"
    trace.steps.append(f"{part} standard {base.value[part]:.2f} from {base.valid_from.year}, growth {rate} a year → {standard:.2f}")
    due = rules.orphan_allowance_due(birth_date=body.birth_date, month=body.month, enrolment=body.school_enrolment, adult_age=adult_age)
    if not due:
        trace.steps.append(f"over {adult_age} and not in high school or secondary vocational school: not payable")
        return _out(body.month, Decimal("0.00"), trace, params, payable=False)
    amount = standard
    if body.kind == "child_without_care":
        trace.rule("R-OR-2")
        amount = rules.child_without_care_top_up(allowance=standard, already_received=body.already_received)
        trace.steps.append(f"top-up: {standard:.2f} − {body.already_received:.2f} already received = {amount:.2f}")
    return _out(body.month, amount, trace, params, payable=amount > 0)


@router.post("/veteran-allowance:evaluate", response_model=AmountOut)
async def evaluate_veteran_allowance(body: VeteranAllowanceIn, uow: UnitOfWork = Depends(get_uow), _: Principal = Depends(authenticated)) -> AmountOut:
    """Revolutionary veterans' living allowance for a month (革命“五老”生活补助, R-OA-1), with its
    yearly natural growth. Yuan/month."""
    async with uow:
        params = await params_on(uow.session, body.month)
        base = params.get("veteran_allowance")
        rate = params.value("veteran_growth_rate")
    amount = rules.grown_standard(base=base.value, base_year=base.valid_from.year, rate=rate, year=body.month.year)
    trace = Trace(rule_ids=["R-OA-1"])
    trace.inputs = body.model_dump(mode="json")
    trace.steps.append(f"{base.value:.2f} from {base.valid_from.year}, growth {rate} a year → {amount:.2f} in {body.month.year}")
    return _out(body.month, amount, trace, params)

