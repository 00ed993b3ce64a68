"""R-LB-2 visit due dates and overdue, R-EP-1 methods, R-LB-3 alert deadlines: pure rules."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.care.devices import rules as alerts
from services.care.visits import rules


def test_first_visit_is_due_one_interval_after_the_start() -> None:
    assert rules.first_due(date(2020, 6, 1), 30) == date(2020, 7, 1)


def test_next_visit_is_due_one_interval_after_the_last() -> None:
    assert rules.due_after(date(2020, 2, 15), 14) == date(2020, 2, 29)
    with pytest.raises(ValueError):
        rules.due_after(date(2020, 2, 15), 0)


def test_overdue_only_once_the_due_day_has_passed() -> None:
    due = date(2020, 7, 1)
    assert not rules.is_overdue(due, date(2020, 6, 30))
    assert not rules.is_overdue(due, due)
    assert rules.is_overdue(due, date(2020, 7, 2))


def test_on_time_on_or_before_the_due_day() -> None:
    assert rules.on_time(date(2020, 7, 1), date(2020, 7, 1))
    assert not rules.on_time(date(2020, 7, 2), date(2020, 7, 1))


def test_contact_methods_are_the_three_of_r_ep_1() -> None:
    assert set(rules.METHODS) == {"phone", "wechat", "home_visit"}


@pytest.mark.parametrize(("to", "reason", "ok"), [
    ("relief", "emergency_hardship", True), ("relief", "needs_assessment", False),
    ("eligibility", "needs_assessment", True), ("eligibility", "epidemic_hardship", False), ("wishes", "x", False),
])
def test_referral_reasons(to: str, reason: str, ok: bool) -> None:
    assert rules.referral_reason_valid(to, reason) is ok


def test_on_time_rate() -> None:
    assert rules.on_time_rate(0, 0, 0) is None
    assert rules.on_time_rate(2, 1, 0) == Decimal("0.6667")
    assert rules.on_time_rate(3, 0, 1) == Decimal("0.7500")


@given(st.dates(date(2000, 1, 1), date(2099, 1, 1)), st.integers(1, 366), st.integers(0, 800))
def test_a_visit_on_time_resets_the_period(last: date, interval: int, offset: int) -> None:
    due = rules.due_after(last, interval)
    visited = last + timedelta(days=offset)
    assert rules.on_time(visited, due) == (offset <= interval)
    assert rules.is_overdue(due, visited) == (offset > interval)


def test_alert_deadline_is_ack_minutes_after_receipt() -> None:
    received = datetime(2020, 6, 15, 1, 0, tzinfo=UTC)
    deadline = alerts.ack_deadline(received, 30)
    assert deadline == datetime(2020, 6, 15, 1, 30, tzinfo=UTC)
    assert not alerts.must_escalate(deadline, deadline - timedelta(seconds=1), acknowledged=False, escalated=False, closed=False)
    assert alerts.must_escalate(deadline, deadline, acknowledged=False, escalated=False, closed=False)
    assert not alerts.must_escalate(deadline, deadline, acknowledged=True, escalated=False, closed=False)
    assert not alerts.must_escalate(deadline, deadline, acknowledged=False, escalated=True, closed=False)
    assert not alerts.must_escalate(deadline, deadline, acknowledged=False, escalated=False, closed=True)
    assert alerts.acknowledged_in_time(deadline, deadline - timedelta(minutes=1))
    assert not alerts.acknowledged_in_time(deadline, deadline)


def test_alert_deadline_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        alerts.ack_deadline(datetime(2020, 6, 15, 1, 0), 30)
    with pytest.raises(ValueError):
        alerts.ack_deadline(datetime(2020, 6, 15, 1, 0, tzinfo=UTC), 0)
