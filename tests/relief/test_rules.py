"""Pure policy rules of the relief service: R-TR-1..6, R-EP-1 (figures from POLICY.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.relief.cases import rules
from services.relief.funds.rules import (
    ReserveInsufficient,
    approval_route,
    approval_tier,
    balance_after_payment,
    meets_usage_target,
    usage_rate,
)
from services.relief.parameters.rules import (
    SPECS,
    ParameterValueError,
    ParameterVersion,
    PolicySet,
    check_consistency,
    check_value,
)
from shared.calendar import TZ, WorkingDayCalendar
from tests.conftest import load_cases

LIMIT, CAP = Decimal("3000.00"), Decimal("5000.00")
TIERS = load_cases("relief-tiers.json")
WORKING_DAYS = load_cases("working-days.json")
fen = st.integers(min_value=-10**9, max_value=10**9).map(lambda n: Decimal(n) / 100)


# -- R-TR-3 / R-TR-4 -------------------------------------------------------------------------


@pytest.mark.parametrize("case", TIERS, ids=[f"{c['amount']}@{c['town_reserve_left']}" for c in TIERS])
def test_acceptance_tiers(case: dict) -> None:
    route = approval_route(Decimal(case["amount"]), town_limit=LIMIT, case_cap=CAP,
                           reserve_left=Decimal(case["town_reserve_left"]))
    if "approver" in case:
        assert (route.approver, route.refused, route.allowed) == (case["approver"], None, True)
    else:
        assert route.refused == case["refused"]
        assert route.allowed is False
    assert case["rule"] in route.rules


@pytest.mark.parametrize(("amount", "approver"), [
    ("0.01", "town"), ("2999.99", "town"), ("3000.00", "town"), ("3000.01", "district"),
    ("4999.99", "district"), ("5000.00", "district"),
])
def test_tier_boundaries_are_inclusive(amount: str, approver: str) -> None:
    assert approval_tier(Decimal(amount), town_limit=LIMIT, case_cap=CAP).approver == approver


@pytest.mark.parametrize("amount", ["0", "0.00", "-1.00", "3000.005", "NaN", "Infinity"])
def test_invalid_amounts(amount: str) -> None:
    route = approval_tier(Decimal(amount), town_limit=LIMIT, case_cap=CAP)
    assert (route.approver, route.refused) == (None, "invalid_amount")


def test_over_cap_is_refused_whatever_the_reserve() -> None:
    route = approval_route(Decimal("5000.01"), town_limit=LIMIT, case_cap=CAP, reserve_left=Decimal("1000000"))
    assert (route.approver, route.refused) == (None, "over_case_cap")


def test_district_tier_ignores_the_town_reserve() -> None:
    route = approval_route(Decimal("4000.00"), town_limit=LIMIT, case_cap=CAP, reserve_left=Decimal("0.00"))
    assert (route.approver, route.refused) == ("district", None)


def test_reserve_exactly_enough_is_payable() -> None:
    route = approval_route(Decimal("2000.00"), town_limit=LIMIT, case_cap=CAP, reserve_left=Decimal("2000.00"))
    assert (route.approver, route.refused) == ("town", None)
    route = approval_route(Decimal("2000.01"), town_limit=LIMIT, case_cap=CAP, reserve_left=Decimal("2000.00"))
    assert (route.approver, route.refused) == ("town", "reserve_insufficient")


def test_thresholds_are_parameters() -> None:
    # Later years may raise the limits: the rule reads them, it hard-codes nothing.
    assert approval_tier(Decimal("4000.00"), town_limit=Decimal("5000.00"), case_cap=Decimal("8000.00")).approver == "town"
    assert approval_tier(Decimal("7000.00"), town_limit=Decimal("5000.00"), case_cap=Decimal("8000.00")).approver == "district"


@given(amount=fen, reserve=fen.filter(lambda d: d >= 0))
def test_route_properties(amount: Decimal, reserve: Decimal) -> None:
    route = approval_route(amount, town_limit=LIMIT, case_cap=CAP, reserve_left=reserve)
    if amount <= 0:
        assert route.refused == "invalid_amount"
    elif amount > CAP:
        assert route.refused == "over_case_cap"
    elif amount > LIMIT:
        assert (route.approver, route.refused) == ("district", None)
    else:
        assert route.approver == "town"
        # R-TR-4: allowed exactly when the payment leaves the reserve at or above zero.
        assert route.allowed == (reserve - amount >= 0)


@given(balance=fen.filter(lambda d: d >= 0), amount=fen.filter(lambda d: d > 0))
def test_balance_never_below_zero(balance: Decimal, amount: Decimal) -> None:
    if amount > balance:
        with pytest.raises(ReserveInsufficient) as err:
            balance_after_payment(balance, amount)
        assert err.value.code == "reserve_insufficient"
    else:
        after = balance_after_payment(balance, amount)
        assert after >= 0 and after + amount == balance


def test_payment_must_be_positive() -> None:
    with pytest.raises(ValueError):
        balance_after_payment(Decimal("10.00"), Decimal("0.00"))


def test_usage_rate() -> None:
    assert usage_rate(Decimal("18500.00"), Decimal("20000.00")) == Decimal("0.9250")
    assert usage_rate(Decimal("2.00"), Decimal("3.00")) == Decimal("0.6667")  # half-up at 4 places
    assert usage_rate(Decimal("0.00"), Decimal("0.00")) is None
    assert meets_usage_target(Decimal("0.9000"), Decimal("0.90")) is True
    assert meets_usage_target(Decimal("0.8999"), Decimal("0.90")) is False
    assert meets_usage_target(None, Decimal("0.90")) is None


@given(paid=fen.filter(lambda d: d >= 0), extra=fen.filter(lambda d: d >= 0))
def test_usage_rate_bounds(paid: Decimal, extra: Decimal) -> None:
    allocated = paid + extra
    rate = usage_rate(paid, allocated)
    if allocated == 0:
        assert rate is None
    else:
        assert rate is not None and Decimal(0) <= rate <= Decimal(1)


# -- R-TR-2 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", WORKING_DAYS, ids=[c["accepted_at"] for c in WORKING_DAYS])
def test_acceptance_deadlines(case: dict) -> None:
    sla = rules.sla_deadline(datetime.fromisoformat(case["accepted_at"]), working_days=case["working_days"],
                             at_risk_working_days=1, calendar=WorkingDayCalendar())
    assert sla.deadline_date == date.fromisoformat(case["deadline_date"])
    assert sla.deadline_at == datetime.combine(sla.deadline_date + timedelta(days=1), datetime.min.time(), tzinfo=TZ)
    assert sla.provisional is False


def test_at_risk_is_the_end_of_the_fourth_working_day() -> None:
    # Accepted Thursday 30 April 2020: working days 6, 7, 8, 9 (make-up Saturday), 11 May.
    sla = rules.sla_deadline(datetime(2020, 4, 30, 10, tzinfo=TZ), working_days=5, at_risk_working_days=1,
                             calendar=WorkingDayCalendar())
    assert sla.deadline_at.isoformat() == "2020-05-12T00:00:00+08:00"
    assert sla.at_risk_at.isoformat() == "2020-05-10T00:00:00+08:00"


def test_at_risk_with_the_whole_term_is_the_acceptance() -> None:
    accepted = datetime(2020, 6, 1, 9, tzinfo=TZ)
    sla = rules.sla_deadline(accepted, working_days=1, at_risk_working_days=1, calendar=WorkingDayCalendar())
    assert sla.at_risk_at == accepted
    assert sla.deadline_date == date(2020, 6, 2)


def test_future_year_is_provisional_and_does_not_raise() -> None:
    sla = rules.sla_deadline(datetime(2027, 3, 1, 9, tzinfo=TZ), working_days=5, at_risk_working_days=1,
                             calendar=WorkingDayCalendar())
    assert sla.provisional is True
    assert sla.deadline_date == date(2027, 3, 8)  # Monday–Friday fallback


def test_deadline_crossing_into_a_provisional_year() -> None:
    # Accepted Wednesday 30 December 2026 (2026 known); the count runs into 2027 (unknown).
    sla = rules.sla_deadline(datetime(2026, 12, 30, 9, tzinfo=TZ), working_days=5, at_risk_working_days=1,
                             calendar=WorkingDayCalendar())
    assert sla.provisional is True
    assert sla.deadline_date.year == 2027


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)))
def test_sla_properties(accepted: datetime) -> None:
    sla = rules.sla_deadline(accepted, working_days=5, at_risk_working_days=1, calendar=WorkingDayCalendar())
    # The warning comes before the deadline, both after the acceptance, both at local midnight.
    assert accepted < sla.at_risk_at < sla.deadline_at
    assert sla.deadline_at.astimezone(TZ).time() == datetime.min.time()
    assert sla.deadline_at - accepted >= timedelta(days=5)


def test_sla_state() -> None:
    deadline = datetime(2020, 5, 12, tzinfo=TZ)
    warning = datetime(2020, 5, 10, tzinfo=TZ)
    state = lambda status, now, paid=None: rules.sla_state(  # noqa: E731
        status=status, now=now, deadline_at=deadline, at_risk_at=warning, paid_at=paid)
    assert state("open", warning - timedelta(seconds=1)) == "on_track"
    assert state("approved", warning) == "at_risk"
    assert state("open", deadline - timedelta(seconds=1)) == "at_risk"
    assert state("open", deadline) == "breached"
    assert state("paid", deadline + timedelta(days=9), paid=deadline) == "met"
    assert state("paid", deadline, paid=deadline + timedelta(seconds=1)) == "breached"
    assert state("refused", deadline + timedelta(days=1)) == "not_applicable"
    assert rules.sla_state(status="open", now=deadline, deadline_at=None, at_risk_at=None, paid_at=None) == "not_applicable"


def test_sla_applies_to_emergency_relief() -> None:
    assert rules.sla_applies("emergency") is True
    assert rules.sla_applies("expenditure") is False


# -- R-TR-5 ----------------------------------------------------------------------------------


def test_paperwork_deadline_is_ten_working_days() -> None:
    # Approved Monday 28 September 2020: 29, 30 Sep, then 1–8 Oct holidays, 9, 10 (make-up
    # Saturday), 12, 13, 14, 15, 16, 19 October.
    due = rules.paperwork_deadline(datetime(2020, 9, 28, 15, tzinfo=TZ), working_days=10, calendar=WorkingDayCalendar())
    assert due.deadline_date == date(2020, 10, 19)
    assert due.deadline_at.isoformat() == "2020-10-20T00:00:00+08:00"


def test_missing_documents_and_approval() -> None:
    docs = rules.checklist("emergency", {"application": True, "id_card": True})
    assert [d["code"] for d in docs] == ["application", "id_card", "incident_proof", "bank_account"]
    assert rules.missing_documents("emergency", docs) == ["incident_proof", "bank_account"]
    assert rules.may_approve_with_missing_documents("emergency") is True
    assert rules.may_approve_with_missing_documents("expenditure") is False
    full = rules.checklist("expenditure", {c: True for c in rules.REQUIRED_DOCUMENTS["expenditure"]})
    assert rules.missing_documents("expenditure", full) == []


def test_checklist_keeps_optional_documents() -> None:
    docs = rules.checklist("emergency", {"investigation_report": True})
    assert docs[-1] == {"code": "investigation_report", "required": False, "received": True}


# -- R-TR-6 ----------------------------------------------------------------------------------


def test_non_local_applicants_get_emergency_relief() -> None:
    rules.check_applicant("emergency", "non_local")
    with pytest.raises(rules.CaseRuleError) as err:
        rules.check_applicant("expenditure", "non_local")
    assert err.value.code == "non_local_emergency_only"
    rules.check_applicant("expenditure", "registered")


def test_vagrants_are_referred() -> None:
    assert rules.initial_status("vagrant") == "referred"
    assert rules.initial_status("non_local") == "open"
    assert rules.initial_status("registered") == "open"


def test_contact_methods() -> None:
    assert rules.CONTACT_METHODS == ("phone", "wechat", "home_visit")  # R-EP-1


# -- parameters ------------------------------------------------------------------------------


def test_parameter_defaults_are_policy_numbers() -> None:
    assert {n: s.default for n, s in SPECS.items()} == {
        "town_approval_limit": Decimal("3000.00"), "case_cap": Decimal("5000.00"), "sla_working_days": 5,
        "at_risk_working_days": 1, "paperwork_working_days": 10, "reserve_usage_target": Decimal("0.90"),
    }


@pytest.mark.parametrize(("name", "value", "ok"), [
    ("case_cap", "6000.00", True), ("case_cap", "6000.001", False), ("case_cap", "0", False),
    ("sla_working_days", "7", True), ("sla_working_days", "0", False), ("sla_working_days", "2.5", False),
    ("at_risk_working_days", "0", True), ("reserve_usage_target", "0.95", True),
    ("reserve_usage_target", "1.5", False), ("nonsense", "1", False),
])
def test_check_value(name: str, value: str, ok: bool) -> None:
    if ok:
        assert check_value(name, Decimal(value)) == Decimal(value)
    else:
        with pytest.raises(ParameterValueError):
            check_value(name, Decimal(value))


def test_consistency() -> None:
    check_consistency({"town_approval_limit": Decimal(3000), "case_cap": Decimal(5000)})
    with pytest.raises(ParameterValueError):
        check_consistency({"town_approval_limit": Decimal(6000), "case_cap": Decimal(5000)})
    with pytest.raises(ParameterValueError):
        check_consistency({"at_risk_working_days": Decimal(5), "sla_working_days": Decimal(5)})


def test_policy_set_traces_versions() -> None:
    versions = tuple(ParameterVersion(i, n, s.default, date(2020, 1, 1), None) for i, (n, s) in enumerate(SPECS.items()))
    policy = PolicySet(on=date(2020, 6, 1), versions=versions)
    assert policy.case_cap == Decimal("5000.00") and policy.sla_working_days == 5
    assert policy.used("case_cap") == [{"id": 1, "name": "case_cap", "value": "5000.00", "valid_from": "2020-01-01", "valid_to": None}]
