"""What one event adds to a household's assistance chain (一户一条救助链): pure functions, no I/O.

:func:`describe` turns an event's ``type`` and ``data`` (shapes: docs/events.md) into the
households it concerns, a short Chinese ``summary`` and the non-personal ``data`` kept: amounts
(yuan strings), months, dates, statuses, codes and ids — copied field by field from a list per
type, so a name, ID number, phone, address, bank account or free text a producer may add later
never reaches the chain. Events about no household (a non-local applicant's relief case, a
person registered only in care) describe nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# --- labels (the Chinese terms of POLICY.md) ---------------------------------------------------

BENEFIT_CATEGORIES = {
    "dibao": "低保", "dibao_single_person": "单人保", "tekun": "特困供养",
    "orphan_institutional": "孤儿基本生活费（集中养育）", "orphan_dispersed": "孤儿基本生活费（分散养育）",
    "child_without_care": "事实无人抚养儿童生活补贴", "revolutionary_veteran": "革命“五老”生活补助",
}
PAYMENT_BENEFITS = {
    **BENEFIT_CATEGORIES, "tekun_basic": "特困基本生活费", "tekun_care": "特困照料护理费",
    "disability_living": "困难残疾人生活补贴", "disability_nursing": "重度残疾人护理补贴",
    "price_subsidy": "价格临时补贴", "housing_started": "安居工程补助（开工）",
    "housing_structure_done": "安居工程补助（主体完工）", "housing_accepted": "安居工程补助（验收）",
    "centralized_support_fee": "集中供养费用",
}
MILESTONES = {"started": "开工", "structure_done": "主体完工", "accepted": "竣工验收"}
SELF_CARE_LEVELS = {"self_care": "具备生活自理能力", "partial_loss": "部分丧失生活自理能力", "full_loss": "完全丧失生活自理能力"}
VISIT_METHODS = {"phone": "电话", "wechat": "微信", "home_visit": "入户"}
ALERT_KINDS = {"sos": "紧急呼叫", "fall": "跌倒", "inactivity": "长时间无活动"}
RISK_CODES = {"expenditure_shock": "刚性支出骤增", "income_shock": "收入骤减", "low_income": "低收入"}
REFERRAL_KINDS = {"assessment": "低保/特困评估", "expenditure_relief": "支出型临时救助"}
REFERRAL_TARGETS = {"relief": "临时救助", "eligibility": "低保/特困认定"}


def _label(labels: dict[str, str], code: Any) -> str:
    return labels.get(str(code), str(code))


def _count(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


@dataclass(frozen=True)
class Described:
    """What an event adds: one entry per household in ``households`` (the ids, in order)."""

    households: tuple[str, ...]
    summary: str
    data: dict[str, Any]
    step: int


Describer = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]


def _pick(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: data[f] for f in fields if f in data}


# --- eligibility ---------------------------------------------------------------------------------

_BENEFIT = ("benefit_id", "person_id", "category", "monthly_amount", "effective_month", "status",
            "gradual_exit_until", "amount_basis", "decision_id", "rule")


def _household_registered(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # The members' personal data stays out: only how many there are.
    members = _count(d.get("members"))
    kept = _pick(d, ("town", "village", "registered_poor", "ex_poor", "edge", "lonely_elderly", "revision"))
    return f"家庭登记入库（{members}人）" if members is not None else "家庭登记入库", {**kept, "members": members}


def _benefit_granted(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    label = _label(BENEFIT_CATEGORIES, d.get("category"))
    kept = {**_pick(d, _BENEFIT), "members": _count(d.get("members"))}
    return f"{label}获批：每月{d.get('monthly_amount')}元，自{d.get('effective_month')}起", kept


def _benefit_changed(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    label = _label(BENEFIT_CATEGORIES, d.get("category"))
    kept = {**_pick(d, (*_BENEFIT, "previous_amount", "change_reason")), "members": _count(d.get("members"))}
    return (f"{label}调整：每月{d.get('previous_amount')}元→{d.get('monthly_amount')}元，"
            f"自{d.get('effective_month')}起"), kept


def _benefit_ended(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    label = _label(BENEFIT_CATEGORIES, d.get("category"))
    kept = _pick(d, ("benefit_id", "person_id", "category", "last_month", "reason", "decision_id"))
    return f"{label}停发：最后发放月{d.get('last_month')}", kept


def _person_deceased(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "家庭成员死亡", _pick(d, ("person_id", "died_on"))


def _person_moved(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    where = "迁出本区" if d.get("to_town") is None else "户籍迁移"
    return f"家庭成员{where}", _pick(d, ("person_id", "from_town", "to_town", "moved_on", "household_id", "to_household_id"))


def _risk_flagged(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    flags = [{"rule": f.get("rule"), "code": f.get("code")} for f in d.get("flags") or [] if isinstance(f, dict)]
    names = "、".join(_label(RISK_CODES, f["code"]) for f in flags) or "风险"
    return f"返贫致贫风险预警：{names}", {**_pick(d, ("assessment_id", "assessed_on", "covered")), "flags": flags}


def _referral_created(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kept = _pick(d, ("referral_id", "kind", "reasons", "suggested_amount"))
    return f"转介：{_label(REFERRAL_KINDS, d.get('kind'))}", kept


def _deadline_breached(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    label = _label(BENEFIT_CATEGORIES, d.get("category"))
    kept = _pick(d, ("application_id", "category", "step", "due_date", "provisional"))
    return f"{label}申请办理超时（{d.get('step')}，应于{d.get('due_date')}前）", kept


# --- relief (临时救助) ----------------------------------------------------------------------------

_CASE = ("case_id", "kind", "status", "amount", "applicant_type", "person_id", "deadline_date", "provisional")


def _relief(summary: Callable[[dict[str, Any]], str], extra: tuple[str, ...] = ()) -> Describer:
    # ``reason`` of a refusal is staff's free text: never copied.
    return lambda d: (summary(d), _pick(d, (*_CASE, *extra)))


# --- subsidy ---------------------------------------------------------------------------------------

_PAYMENT = ("run_id", "line_id", "person_id", "benefit", "month", "amount", "reference", "reason")


def _payment_paid(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"{_label(PAYMENT_BENEFITS, d.get('benefit'))}：{d.get('month')}发放{d.get('amount')}元", _pick(d, _PAYMENT)


def _payment_failed(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return (f"{_label(PAYMENT_BENEFITS, d.get('benefit'))}：{d.get('month')}发放失败（{d.get('amount')}元）",
            _pick(d, _PAYMENT))


def _project_created(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"安居工程立项：补助{d.get('subsidy')}元", _pick(d, ("project_id", "village", "subsidy"))


def _milestone_reached(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kept = _pick(d, ("project_id", "milestone", "reached_on", "month", "tranche", "accepted"))
    return f"安居工程{_label(MILESTONES, d.get('milestone'))}：拨付{d.get('tranche')}元", kept


# --- care ------------------------------------------------------------------------------------------

_CARE = ("care_person_id", "person_id", "rule")


def _care(summary: Callable[[dict[str, Any]], str], fields: tuple[str, ...]) -> Describer:
    # ``name`` / ``id_number`` of care.referral.created are never copied.
    return lambda d: (summary(d), _pick(d, (*_CARE, *fields)))


# --- wishes (微心愿) --------------------------------------------------------------------------------

_WISH = ("wish_id", "campaign_id", "family_type", "category", "cost", "pledged")


def _wish(summary: Callable[[dict[str, Any]], str], extra: tuple[str, ...] = ()) -> Describer:
    return lambda d: (summary(d), _pick(d, (*_WISH, *extra)))


DESCRIBERS: dict[str, Describer] = {
    "eligibility.household.registered": _household_registered,
    "eligibility.benefit.granted": _benefit_granted,
    "eligibility.benefit.changed": _benefit_changed,
    "eligibility.benefit.ended": _benefit_ended,
    "eligibility.person.deceased": _person_deceased,
    "eligibility.person.moved": _person_moved,
    "eligibility.risk.flagged": _risk_flagged,
    "eligibility.referral.created": _referral_created,
    "eligibility.application.deadline_at_risk": lambda d: (
        f"{_label(BENEFIT_CATEGORIES, d.get('category'))}申请临近办理时限（{d.get('step')}，应于{d.get('due_date')}前）",
        _pick(d, ("application_id", "category", "step", "due_date", "due_at", "at_risk_at", "provisional"))),
    "eligibility.application.deadline_breached": _deadline_breached,
    "relief.case.opened": _relief(
        lambda d: "支出型临时救助线索（待受理）" if d.get("status") == "suggested" else f"临时救助受理：申请{d.get('amount')}元",
        ("referral_id",)),
    "relief.case.referred": _relief(lambda d: "临时救助：转介救助站", ("referred_to",)),
    "relief.case.approved": _relief(
        lambda d: f"临时救助审批通过：{d.get('amount')}元",
        ("approver", "approved_at", "missing_documents", "paperwork_due_at")),
    "relief.case.refused": _relief(lambda d: "临时救助不予批准"),
    "relief.case.paid": _relief(
        lambda d: f"临时救助发放：{d.get('amount')}元", ("approver", "paid_at", "reference", "fund", "sla_met")),
    "relief.sla.at_risk": _relief(lambda d: "临时救助临近办结时限", ("at_risk_at",)),
    "relief.sla.breached": _relief(lambda d: "临时救助超过办结时限未发放"),
    "relief.paperwork.overdue": _relief(lambda d: "临时救助补交材料逾期", ("paperwork_due_at", "missing_documents")),
    "subsidy.payment.paid": _payment_paid,
    "subsidy.payment.failed": _payment_failed,
    "subsidy.housing.project_created": _project_created,
    "subsidy.housing.milestone_reached": _milestone_reached,
    "care.selfcare.assessed": _care(
        lambda d: f"生活自理能力评估：{_label(SELF_CARE_LEVELS, d.get('level'))}",
        ("assessment_id", "level", "previous_level", "assessed_on", "reason")),
    "care.reassessment.overdue": _care(lambda d: "自理能力复评逾期", ("reassessment_id", "reported_on", "due_on")),
    "care.placement.made": _care(
        lambda d: f"集中供养入住：{d.get('home_name')}",
        ("placement_id", "home_id", "home_name", "home_town", "bed_type", "started_on", "level")),
    "care.placement.ended": _care(lambda d: "集中供养结束", ("placement_id", "home_id", "ended_on", "reason")),
    "care.supervision.overdue": _care(
        lambda d: "分散供养照料监督缺项", ("contract_id", "period_start", "period_end", "kind")),
    "care.visit.recorded": _care(
        lambda d: f"探访（{_label(VISIT_METHODS, d.get('method'))}）：{'按时' if d.get('on_time') else '逾期'}",
        ("visit_id", "plan_id", "category", "visited_on", "method", "due_on", "on_time")),
    "care.visit.overdue": _care(lambda d: f"探访逾期（应于{d.get('due_on')}前）", ("plan_id", "category", "due_on")),
    "care.referral.created": _care(
        lambda d: f"探访转介：{_label(REFERRAL_TARGETS, d.get('to'))}", ("referral_id", "to", "reason", "visit_id")),
    "care.alert.escalated": _care(
        lambda d: f"智能设备告警超时未响应：{_label(ALERT_KINDS, d.get('kind'))}",
        ("alert_id", "device_id", "kind", "occurred_at", "ack_deadline")),
    "wishes.wish.published": _wish(lambda d: f"微心愿发布：{d.get('cost')}元", ("published_at",)),
    "wishes.wish.pledged": _wish(lambda d: f"微心愿认领：{d.get('amount')}元", ("pledge_id", "amount")),
    "wishes.wish.fully_pledged": _wish(lambda d: "微心愿已全额认领", ("fully_pledged_at",)),
    "wishes.wish.fulfilled": _wish(lambda d: "微心愿已实现", ("confirmed_by", "confirmed_at", "pledge_ids")),
    "wishes.pledge.expired": _wish(
        lambda d: f"认领逾期未兑现：退回{d.get('amount')}元", ("pledge_id", "amount", "pledged_at", "expired_at")),
}

#: Every event type the chain is built from (the gateway's consumers subscribe to these), in
#: lifecycle order: an entry's ``step`` is its type's index here (ties of one instant).
CHAIN_TYPES: tuple[str, ...] = tuple(DESCRIBERS)
STEPS: dict[str, int] = {t: i for i, t in enumerate(CHAIN_TYPES)}
#: Types that only keep a household's town current (no entry of their own).
TOWN_TYPES: tuple[str, ...] = ("eligibility.household.changed",)


def households_of(event_type: str, data: dict[str, Any]) -> tuple[str, ...]:
    """The households an event concerns: its ``household_id`` (a move also the one moved to)."""
    ids = [data.get("household_id")]
    if event_type == "eligibility.person.moved":
        ids.append(data.get("to_household_id"))
    out: list[str] = []
    for value in ids:
        if value is not None and value != "" and str(value) not in out:
            out.append(str(value))
    return tuple(out)


def describe(event_type: str, data: dict[str, Any]) -> Described | None:
    """The chain entry of an event, or None when it concerns no household (or is not a chain type)."""
    describer = DESCRIBERS.get(event_type)
    households = households_of(event_type, data)
    if describer is None or not households:
        return None
    summary, kept = describer(data)
    return Described(households, summary, kept, STEPS[event_type])


def town_of(event_type: str, data: dict[str, Any]) -> str | None:
    """The town an event places its household in (None when it does not say)."""
    if event_type == "eligibility.person.moved":
        return None  # a person moved, not the household
    town = data.get("town")
    return str(town) if town else None
