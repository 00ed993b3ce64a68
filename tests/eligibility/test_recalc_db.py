"""The set-based recalculation of a new standard on a real PostgreSQL: PostgreSQL's rounding of
every benefit agrees with the Python rule (R-DB-4), events are staged in the outbox, and a
household no longer below the standard exits by R-DB-6."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from services.eligibility.decisions import rules
from services.eligibility.decisions.models import Benefit
from services.eligibility.decisions.recalc import apply_standard_change
from services.eligibility.registry.models import Household
from shared.clock import ControllableClock
from shared.db import UnitOfWork
from shared.events.models import OutboxEvent
from tests.eligibility.conftest import migrated_sessions


@pytest.fixture(scope="module")
async def sessions(databases):  # noqa: ANN001
    async with migrated_sessions(databases, "elig_recalc") as sessions:
        yield sessions


def uow_of(sessions) -> UnitOfWork:  # noqa: ANN001
    clock = ControllableClock()
    clock.set(datetime(2020, 6, 15, 1, 0, tzinfo=UTC))
    return UnitOfWork(sessions, source="/services/eligibility", clock=clock)


async def _seed(sessions, count: int, rng: random.Random) -> list[tuple[uuid.UUID, int, Decimal, bool]]:  # noqa: ANN001
    rows = []
    now = datetime(2020, 6, 15, tzinfo=UTC)
    async with uow_of(sessions) as uow:
        for i in range(count):
            household = Household(id=uuid.uuid4(), town="350505100", village="350505100001", address="x", registered_poor=i % 2 == 0,
                                  ex_poor=False, edge=False, lonely_elderly=False, irregular_income=False, department_data=False,
                                  status="active", revision=1, created_at=now, updated_at=now)
            uow.session.add(household)
            await uow.session.flush()
            members = rng.randint(1, 6)
            # net incomes around the 720-750 boundary so that some leave and most change
            net = Decimal(rng.randint(0, 750 * 12 * members * 100 + 50_000)).scaleb(-2)
            if 720 * 12 * members <= net:
                net = Decimal(720 * 12 * members) - Decimal("0.01")
            amount = rules.recalculated_amount(Decimal("720"), members, net)
            benefit = Benefit(id=uuid.uuid4(), household_id=household.id, person_id=uuid.uuid4(), town="350505100", village="350505100001",
                              category="dibao", monthly_amount=amount, members=[], effective_month=date(2020, 7, 1), status="active",
                              decision_id=uuid.uuid4(), rule="R-DB-4", amount_basis="rule", basis_members=members,
                              basis_net_income_12m=net, created_at=now, updated_at=now)
            uow.session.add(benefit)
            rows.append((benefit.id, members, net, household.registered_poor))
        await uow.commit()
    return rows


async def test_sql_recalculation_matches_the_rule_and_stages_events(sessions) -> None:  # noqa: ANN001
    rng = random.Random(20200615)
    seeded = await _seed(sessions, 300, rng)
    async with uow_of(sessions) as uow:
        await uow.session.execute(text(
            "INSERT INTO parameter_versions (name, value, unit, rule, valid_from, created_by, created_at) "
            "VALUES ('dibao_standard', 700.01, 'yuan', 'R-DB-1', '2031-01-01', 'test', now())"))
        await uow.session.execute(text("UPDATE parameter_versions SET valid_to = '2030-12-31' WHERE name = 'dibao_standard' AND valid_from = '2020-01-01'"))
        summary = await apply_standard_change(uow=uow, as_of=date(2031, 1, 1), actor="test", reason="test")
        await uow.commit()
    assert summary.examined == 300
    async with sessions() as session:
        benefits = {b.id: b for b in (await session.scalars(select(Benefit))).all()}
        outbox = (await session.scalars(select(OutboxEvent).where(OutboxEvent.event_type.like("eligibility.benefit.%")))).all()
    leaving = 0
    for benefit_id, members, net, registered_poor in seeded:
        benefit = benefits[benefit_id]
        expected = rules.recalculated_amount(Decimal("700.01"), members, net)
        if expected > 0 and Decimal("700.01") * members * 12 > net:
            assert benefit.monthly_amount == expected, (members, net)
            assert benefit.status == "active"
        else:
            leaving += 1
            assert benefit.status == ("gradual_exit" if registered_poor else "ended")
            if registered_poor:
                assert benefit.gradual_exit_until == date(2032, 1, 1)
            else:
                assert benefit.last_month == date(2031, 1, 1)
    assert leaving == summary.ended + summary.gradual_exit and leaving > 0
    assert summary.changed + summary.unchanged + leaving == 300
    changed = [o for o in outbox if o.envelope["data"].get("change_reason") == "standard_change"]
    assert len(changed) == summary.changed
    sample = changed[0].envelope
    assert sample["type"] == "eligibility.benefit.changed" and sample["source"] == "/services/eligibility"
    assert sample["data"]["effective_month"] == "2031-01" and sample["subject"] == sample["data"]["benefit_id"]
    amount = benefits[uuid.UUID(sample["data"]["benefit_id"])].monthly_amount
    assert sample["data"]["monthly_amount"] == format(amount, "f")
    async with sessions() as session:
        decisions = await session.scalar(text("SELECT count(*) FROM decisions WHERE kind = 'standard_change'"))
    assert decisions == summary.changed + leaving
    assert func  # noqa: B018


async def test_a_care_referral_to_eligibility_becomes_a_caseworker_referral(sessions) -> None:  # noqa: ANN001
    from services.eligibility.handlers import care_referral
    from services.eligibility.monitoring.models import Referral
    from shared.events.envelope import new_event

    now = datetime(2020, 6, 15, tzinfo=UTC)
    async with uow_of(sessions) as uow:
        household = Household(id=uuid.uuid4(), town="350505103", village="350505103001", address="x", registered_poor=False, ex_poor=False,
                              edge=False, lonely_elderly=False, irregular_income=False, department_data=False, status="active",
                              revision=1, created_at=now, updated_at=now)
        uow.session.add(household)
        await uow.commit()
    for to in ("relief", "eligibility", "eligibility"):
        event = new_event("care.referral.created", {"referral_id": str(uuid.uuid4()), "person_id": str(uuid.uuid4()),
                                                     "household_id": str(household.id), "to": to, "reason": "lost_income"},
                          source="/services/care", time=now)
        async with uow_of(sessions) as uow:
            await care_referral(event, uow=uow)
            await uow.commit()
    async with sessions() as session:
        referrals = (await session.scalars(select(Referral).where(Referral.household_id == household.id))).all()
    assert [(r.kind, r.source, r.reasons, r.town, r.status) for r in referrals] == [("assessment", "care", ["lost_income"], "350505103", "open")]
