"""The daily return-to-poverty sweep on a real PostgreSQL (R-RM-1..5): evaluating a batch of
households at once gives what evaluating each one alone gives — the same assessments (flags,
figures, trace), referrals, events and next due dates — and the batch's set-based figures equal
the per-household ones (members counted on the date, excluded incomes, the three windows)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from services.eligibility.decisions.models import Benefit
from services.eligibility.monitoring.models import Referral, RiskAssessment
from services.eligibility.monitoring.service import evaluate_household, sweep
from services.eligibility.registry.assessment import household_figures, income_figures_of
from services.eligibility.registry.models import Expenditure, Household, Income, Person
from shared.clock import ControllableClock
from shared.db import UnitOfWork
from tests.eligibility.conftest import migrated_sessions, new_id_number

# 10:00 in Shanghai on 2021-03-10: the last 12 months are 2021-02 back to 2020-03, the 12 before
# them 2020-02 back to 2019-03, the previous calendar year 2020.
NOW = datetime(2021, 3, 10, 2, 0, tzinfo=UTC)
ON = date(2021, 3, 10)
TOWN = "350505100"


@pytest.fixture(scope="module")
async def sessions(databases):  # noqa: ANN001
    async with migrated_sessions(databases, "elig_sweep") as sessions:
        yield sessions


def factory(sessions):  # noqa: ANN001, ANN201
    clock = ControllableClock()
    clock.set(NOW)
    return lambda _correlation=None: UnitOfWork(sessions, source="/services/eligibility", clock=clock)


def _household(household_id: uuid.UUID, **flags: Any) -> Household:
    fields = dict(ex_poor=False, edge=False, department_data=False) | flags
    return Household(id=household_id, town=TOWN, village="350505100001", address="x", registered_poor=False, lonely_elderly=False,
                     irregular_income=False, status="active", revision=1, monitoring_due_on=ON, created_at=NOW, updated_at=NOW, **fields)


def _person(household: Household, relation: str, **fields: Any) -> Person:
    return Person(id=uuid.uuid4(), household_id=household.id, id_number=new_id_number(), name="王𠮷", sex="male",
                  birth_date=date(1960, 5, 1), relation=relation, supporters=[], parents=[], created_at=NOW, updated_at=NOW, **fields)


def _income(household: Household, source: str, first: date, last: date, amount: str, person: Person | None = None) -> Income:
    return Income(household_id=household.id, person_id=person.id if person else None, source=source, first_month=first, last_month=last,
                  amount=Decimal(amount), created_at=NOW)


async def _seed(sessions) -> dict[str, uuid.UUID]:  # noqa: ANN001
    """Six households due today, each a different branch of R-RM-1..5, swept in this order (by
    id): A, the only one reading ``expenditure_relief_cap``, comes first, so a parameter record
    shared by the batch would show in the others' traces."""
    ordered = iter(sorted(uuid.uuid4() for _ in range(6)))
    async with factory(sessions)() as uow:
        s = uow.session
        # A: expenditure shock and low income, not covered: both referrals.
        a = _household(next(ordered), ex_poor=True)
        # B: low income, covered by dibao: flagged, no referral.
        b = _household(next(ordered), edge=True)
        # C: no flag.
        c = _household(next(ordered), ex_poor=True)
        # D: no longer monitored: its due date is cleared, no assessment.
        d = _household(next(ordered))
        # E: low income, already flagged so and already referred: neither event nor referral; a
        # dead member, a member living elsewhere and an excluded source do not count.
        e = _household(next(ordered), ex_poor=True, monitoring_signature="low_income")
        # F: income shock (reported by another department), the flags change.
        f = _household(next(ordered), department_data=True, monitoring_signature="low_income")
        s.add_all([a, b, c, d, e, f])
        await s.flush()
        a1, a2 = _person(a, "head"), _person(a, "spouse")
        b1 = _person(b, "head")
        c1, c2 = _person(c, "head"), _person(c, "spouse")
        d1 = _person(d, "head")
        e1 = _person(e, "head")
        e2 = _person(e, "spouse", status="deceased", deceased_on=date(2020, 12, 1))
        e3 = _person(e, "child", living_together=False)
        e4 = _person(e, "grandchild")
        f1, f2, f3 = _person(f, "head"), _person(f, "spouse"), _person(f, "child")
        s.add_all([a1, a2, b1, c1, c2, d1, e1, e2, e3, e4, f1, f2, f3])
        await s.flush()
        s.add_all([
            _income(a, "agriculture", date(2020, 1, 1), date(2020, 12, 1), "8000.00"),
            Expenditure(household_id=a.id, category="medical", first_month=date(2020, 9, 1), last_month=date(2020, 9, 1),
                        amount=Decimal("10000.00"), created_at=NOW),
            _income(b, "pension", date(2019, 1, 1), date(2021, 12, 1), "36000.00", b1),
            _income(c, "wages", date(2019, 3, 1), date(2021, 2, 1), "96000.00", c1),
            _income(d, "wages", date(2019, 3, 1), date(2021, 2, 1), "1.00"),
            _income(e, "agriculture", date(2020, 3, 1), date(2021, 2, 1), "12000.00"),
            _income(e, "pension", date(2020, 3, 1), date(2021, 2, 1), "24000.00", e2),
            _income(e, "wages", date(2020, 3, 1), date(2021, 2, 1), "50000.00", e3),
            _income(e, "social_assistance", date(2020, 3, 1), date(2021, 2, 1), "5000.00"),
            _income(f, "wages", date(2019, 3, 1), date(2020, 2, 1), "36000.00", f1),
            _income(f, "wages", date(2020, 3, 1), date(2021, 2, 1), "3600.00", f1),
            Benefit(id=uuid.uuid4(), household_id=b.id, person_id=b1.id, town=TOWN, village="350505100001", category="dibao",
                    monthly_amount=Decimal("80.00"), members=[str(b1.id)], effective_month=date(2020, 1, 1), status="active",
                    decision_id=uuid.uuid4(), rule="R-DB-4", amount_basis="rule", basis_members=1, basis_net_income_12m=Decimal("12000.00"),
                    created_at=NOW, updated_at=NOW),
            Referral(id=uuid.uuid4(), household_id=e.id, town=TOWN, kind="assessment", reasons=["low_income"], source="monitoring",
                     status="open", created_at=NOW),
        ])
        await uow.commit()
        return {"A": a.id, "B": b.id, "C": c.id, "D": d.id, "E": e.id, "F": f.id}


def _data(event_data: dict[str, Any]) -> dict[str, Any]:
    """An event's data without the ids generated per run."""
    return {k: v for k, v in event_data.items() if k not in ("assessment_id", "referral_id")}


async def _one_at_a_time(sessions, ids: dict[str, uuid.UUID]) -> dict[str, Any]:  # noqa: ANN001
    """Each household evaluated alone, in its own transaction, rolled back."""
    outcome: dict[str, Any] = {}
    for label, household_id in ids.items():
        async with factory(sessions)() as uow:
            household = await uow.session.get(Household, household_id)
            assessment = await evaluate_household(uow=uow, household=household, trigger="daily_sweep", on=ON)
            await uow.session.flush()
            referrals = (await uow.session.scalars(
                select(Referral).where(Referral.household_id == household_id, Referral.risk_assessment_id.is_not(None))
            )).all()
            outcome[label] = {
                "assessment": None if assessment is None else (assessment.monitored, assessment.covered, assessment.flags, assessment.trace),
                "referrals": sorted((r.kind, r.reasons, r.suggested_amount) for r in referrals),
                "events": [(e.type, _data(json.loads(e.model_dump_json(exclude_none=True))["data"])) for e in uow.emitted],
                "household": (household.monitoring_signature, household.monitoring_due_on),
            }
    return outcome


async def test_the_sweep_gives_what_each_evaluation_alone_gives(sessions) -> None:  # noqa: ANN001
    ids = await _seed(sessions)
    by_id = {v: k for k, v in ids.items()}

    async with sessions() as session:
        batch = await income_figures_of(session, list(ids.values()), ON)
        for household_id in ids.values():
            household = await session.get(Household, household_id)
            alone = await household_figures(session, household, ON)
            together = batch[household_id]
            assert sorted(p.id for p in together.members) == sorted(p.id for p in alone.members)
            for name in ("window", "income_12m", "excluded_income_12m", "income_by_source", "income_prev_12m", "income_prev_year",
                         "expenditure_12m", "own_income_12m"):
                assert getattr(together, name) == getattr(alone, name), (by_id[household_id], name)
        assert len(batch[ids["E"]].members) == 2  # the dead spouse and the child living elsewhere do not count

    expected = await _one_at_a_time(sessions, ids)

    assert await sweep(factory(sessions), batch=4) == 6  # two transactions: 4 then 2 households
    async with sessions() as session:
        assessments = {by_id[a.household_id]: a for a in (await session.scalars(select(RiskAssessment))).all()}
        referrals = (await session.scalars(select(Referral).where(Referral.risk_assessment_id.is_not(None)))).all()
        households = {by_id[h.id]: h for h in (await session.scalars(select(Household))).all()}
        outbox = (await session.execute(text("SELECT event_type, envelope FROM outbox_events ORDER BY seq"))).all()
    events_of: dict[str, list] = {label: [] for label in ids}
    for event_type, envelope in outbox:
        events_of[by_id[uuid.UUID(envelope["data"]["household_id"])]].append((event_type, _data(envelope["data"])))
    for referral in referrals:
        assert referral.risk_assessment_id == assessments[by_id[referral.household_id]].id
    for label in ids:
        a = assessments.get(label)
        got = {
            "assessment": None if a is None else (a.monitored, a.covered, a.flags, a.trace),
            "referrals": sorted((r.kind, r.reasons, r.suggested_amount) for r in referrals if r.household_id == ids[label]),
            "events": events_of[label],
            "household": (households[label].monitoring_signature, households[label].monitoring_due_on),
        }
        assert got == expected[label], label

    # The figures of R-RM-2..5 on A: rigid 10,000 > last year's 8,000; per capita (6,666.67 −
    # 10,000 deductible medical → 0) / 12 / 2 < 1.5 × 720; relief suggested: the excess 2,000.
    a = assessments["A"]
    assert [f["code"] for f in a.flags] == ["expenditure_shock", "low_income"]
    assert a.flags[0]["figures"] == {"rigid_expenditure_12m": "10000.00", "income_prev_year": "8000.00", "threshold": "8000.00",
                                     "excess": "2000.00"}
    assert a.flags[1]["figures"] == {"per_capita_monthly": "0.00", "monitoring_line": "1080.00", "dibao_standard": "720.00"}
    assert expected["A"]["referrals"] == [("assessment", ["expenditure_shock", "low_income"], None),
                                          ("expenditure_relief", ["expenditure_shock"], Decimal("2000.00"))]
    assert [t for t, _ in expected["A"]["events"]] == ["eligibility.risk.flagged", "eligibility.referral.created",
                                                       "eligibility.referral.created"]
    # B: 12,000 / 12 / 1 = 1,000 < 1,080, covered by dibao: flagged, not referred.
    assert assessments["B"].covered and [f["code"] for f in assessments["B"].flags] == ["low_income"]
    assert expected["B"]["referrals"] == [] and [t for t, _ in expected["B"]["events"]] == ["eligibility.risk.flagged"]
    # C: 48,000 / 12 / 2 = 2,000: no flag, nothing sent.
    assert assessments["C"].flags == [] and expected["C"]["events"] == [] and households["C"].monitoring_signature == ""
    # D: outside R-RM-1.
    assert "D" not in assessments and households["D"].monitoring_due_on is None
    # E: 12,000 / 12 / 2 = 500: still low income, already referred: nothing new.
    assert assessments["E"].trace["inputs"]["members"] == 2 and assessments["E"].trace["inputs"]["income_12m"] == "12000.00"
    assert expected["E"]["events"] == [] and expected["E"]["referrals"] == []
    # F: 3,600 ≤ (1 − 0.5) × 36,000, a 90% fall; and 3,600 / 12 / 3 = 100 < 1,080.
    shock = assessments["F"].flags[0]
    assert shock["code"] == "income_shock" and shock["figures"]["threshold"] == "18000.00" and shock["figures"]["drop_share"] == "0.90"
    assert households["F"].monitoring_signature == "income_shock,low_income" and households["F"].monitoring_due_on == date(2021, 3, 11)
    assert expected["F"]["referrals"] == [("assessment", ["income_shock", "low_income"], None)]
