"""R-DB-8 KPIs on a real PostgreSQL: the set-based figures of ``kpis.service`` agree with the pure
rules on random benefit histories (retroactive changes, ends, moves between towns), and a new
standard applied by the set-based recalculation (600 → 720 on 2020-01-01) gives the exact
per-capita figures and growth; the pure rules' bounds and rounding as properties."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.decisions.models import Benefit, BenefitPeriod
from services.eligibility.decisions.recalc import apply_standard_change
from services.eligibility.decisions.service import end, grant, new_decision
from services.eligibility.figures import add_months
from services.eligibility.kpis import rules, service
from services.eligibility.registry.models import Household
from shared.clock import ControllableClock
from shared.db import UnitOfWork
from tests.eligibility.conftest import migrated_sessions

TOWNS = ("350505100", "350505101")


@pytest.fixture
async def sessions(databases):  # noqa: ANN001
    """A fresh eligibility database per test (the recalculation touches every benefit)."""
    async with migrated_sessions(databases, "elig_kpis") as sessions:
        yield sessions


def uow_at(sessions, moment: datetime) -> UnitOfWork:  # noqa: ANN001
    clock = ControllableClock()
    clock.set(moment)
    return UnitOfWork(sessions, source="/services/eligibility", clock=clock)


def _household(town: str, now: datetime) -> Household:
    return Household(id=uuid.uuid4(), town=town, village=town + "001", address="x", registered_poor=False, ex_poor=False, edge=False,
                     lonely_elderly=False, irregular_income=False, department_data=False, status="active", revision=1,
                     created_at=now, updated_at=now)


def _month(rng: random.Random, first: date, span: int) -> date:
    return add_months(first, rng.randrange(span))


async def test_sql_totals_match_the_rule_on_random_histories(sessions) -> None:  # noqa: ANN001
    rng = random.Random(20201231)
    now = datetime(2020, 6, 1, tzinfo=UTC)
    histories = []  # (periods, effective, last, household_id, category)
    async with uow_at(sessions, now) as uow:
        for _ in range(120):
            town = rng.choice(TOWNS)
            household = _household(town, now)
            uow.session.add(household)
            await uow.session.flush()
            category = rng.choice(("dibao", "dibao", "dibao_single_person", "tekun"))
            effective = _month(rng, date(2018, 6, 1), 36)
            last = None if rng.random() < 0.5 else add_months(effective, rng.randrange(-1, 30))
            periods = []
            for i in range(rng.randint(1, 4)):
                # the first from the start; later ones forwards or (sometimes) retroactive
                start = effective if i == 0 else _month(rng, add_months(effective, -3), 30)
                periods.append(rules.Period(start, Decimal(rng.randint(1, 300_000)).scaleb(-2), rng.randint(1, 6),
                                            town if rng.random() < 0.8 else rng.choice(TOWNS)))
            benefit = Benefit(id=uuid.uuid4(), household_id=household.id, person_id=uuid.uuid4(), town=periods[-1].town,
                              village=town + "001", category=category, monthly_amount=periods[-1].amount, members=[],
                              effective_month=effective, last_month=last, status="ended" if last else "active",
                              decision_id=uuid.uuid4(), rule="R-DB-4", amount_basis="rule", basis_members=1,
                              basis_net_income_12m=Decimal(0), created_at=now, updated_at=now)
            uow.session.add(benefit)
            await uow.session.flush()
            for period in periods:
                uow.session.add(BenefitPeriod(benefit_id=benefit.id, from_month=period.from_month, monthly_amount=period.amount,
                                              members=period.members, town=period.town, recorded_at=now))
                await uow.session.flush()  # ids in recording order
            histories.append((periods, effective, last, household.id, category))
        await uow.commit()

    for moment, year in ((datetime(2020, 8, 15, 2, tzinfo=UTC), 2020), (datetime(2021, 3, 1, 2, tzinfo=UTC), 2020),
                         (datetime(2021, 3, 1, 2, tzinfo=UTC), 2019)):
        async with uow_at(sessions, moment) as uow:
            as_of, figures = await service.town_figures(uow, year=year, towns=list(TOWNS))
        _, (cur_first, cur_last), (prev_first, prev_last) = service.year_ranges(year, moment.date())
        assert as_of == min(date(year, 12, 31), moment.date())
        for area in figures:
            current, previous, members, households = rules.Totals(), rules.Totals(), 0, set()
            for periods, effective, last, household_id, category in histories:
                if category not in rules.DIBAO_CATEGORIES:
                    continue
                current += rules.benefit_totals(periods, effective_month=effective, last_month=last, first=cur_first, last=cur_last, town=area.code)
                previous += rules.benefit_totals(periods, effective_month=effective, last_month=last, first=prev_first, last=prev_last, town=area.code)
                paid = rules.period_in_force(periods, as_of.replace(day=1), effective_month=effective, last_month=last)
                if paid is not None and paid.town == area.code:
                    members += paid.members
                    households.add(household_id)
            assert (area.current, area.previous) == (current, previous), (year, area.code)
            assert (area.members, area.households) == (members, len(households))
            assert current.person_months > 0 and previous.person_months > 0


async def test_a_new_standard_from_2020_gives_the_growth_in_exact_figures(sessions) -> None:  # noqa: ANN001
    """H1: 2 members, net income 6000 a year, from 2019-01: 600×2 − 500 = 700, then 720×2 − 500 = 940.
    H2: 3 members, net income 7200, from 2019-07: 1800 − 600 = 1200, then 2160 − 600 = 1560, ended
    after 2020-09. 2019: (700×12 + 1200×6) / (2×12 + 3×6) = 15600 / 42 = 371.43;
    2020: (940×12 + 1560×9) / (2×12 + 3×9) = 25320 / 51 = 496.47; growth 1.3367 ≥ 1.12."""
    now = datetime(2018, 12, 20, 2, tzinfo=UTC)
    async with uow_at(sessions, now) as uow:
        benefits = []
        for members, net, amount, start in ((2, "6000", "700.00", date(2019, 1, 1)), (3, "7200", "1200.00", date(2019, 7, 1))):
            household = _household(TOWNS[0], now)
            uow.session.add(household)
            await uow.session.flush()
            decision = new_decision(uow, household=household, category="dibao", kind="recorded", outcome="eligible",
                                    assessed_on=date(2018, 12, 20), amount=Decimal(amount), rule_ids=("R-DB-4",), trace={}, decided_by="test")
            benefits.append(grant(uow, household=household, person_id=uuid.uuid4(), category="dibao", amount=Decimal(amount),
                                  effective_month=start, members=[uuid.uuid4() for _ in range(members)], decision=decision,
                                  basis_members=members, basis_net_income_12m=Decimal(net)))
        await uow.commit()
    async with uow_at(sessions, datetime(2019, 12, 20, 2, tzinfo=UTC)) as uow:
        summary = await apply_standard_change(uow=uow, as_of=date(2020, 1, 1), actor="test", reason="dibao_standard@2020-01-01")
        await uow.commit()
    assert (summary.changed, summary.effective_month) == (2, "2020-01")
    async with uow_at(sessions, datetime(2020, 3, 1, 2, tzinfo=UTC)) as uow:
        h2 = await uow.session.get(Benefit, benefits[1].id, with_for_update=True)
        assert h2 is not None and h2.monthly_amount == Decimal("1560.00")
        end(uow, h2, last_month=date(2020, 9, 1), reason="withdrawn", decision=None)
        await uow.commit()

    async with uow_at(sessions, datetime(2021, 1, 10, 2, tzinfo=UTC)) as uow:
        as_of, figures = await service.town_figures(uow, year=2020, towns=[TOWNS[0]])
    [town] = figures
    assert as_of == date(2020, 12, 31)
    assert town.previous == rules.Totals(Fraction(15600), 42) and town.current == rules.Totals(Fraction(25320), 51)
    assert (town.households, town.members) == (1, 2)  # H2 no longer paid in December 2020
    current, previous = rules.per_capita_benefit(town.current), rules.per_capita_benefit(town.previous)
    growth = rules.growth_ratio(current, previous)
    assert (rules.yuan_text(current), rules.yuan_text(previous), rules.ratio_text(growth)) == ("496.47", "371.43", "1.3367")
    assert rules.meets_target(growth, Decimal("1.12")) is True

    # During the year: only January..June 2020 count (940×6 + 1560×6) / (12 + 18) = 500.00.
    async with uow_at(sessions, datetime(2020, 6, 15, 2, tzinfo=UTC)) as uow:
        as_of, [town] = await service.town_figures(uow, year=2020, towns=[TOWNS[0]])
    assert as_of == date(2020, 6, 15) and town.current == rules.Totals(Fraction(15000), 30) and (town.households, town.members) == (2, 5)
    assert rules.ratio_text(rules.growth_ratio(rules.per_capita_benefit(town.current), previous)) == "1.3462"


def test_district_population_only_when_every_town_has_one() -> None:
    a = service.AreaFigures("350505100", "南埔镇", 1000, 3, 7, rules.Totals(Fraction(100), 2), rules.Totals(Fraction(60), 2))
    b = service.AreaFigures("350505101", "界山镇", None, 1, 2, rules.Totals(Fraction(50), 1), rules.Totals())
    district = service.district_of([a, b])
    assert (district.code, district.households, district.members, district.registered_population) == ("350505", 4, 9, None)
    assert district.current == rules.Totals(Fraction(150), 3) and district.previous == rules.Totals(Fraction(60), 2)
    b.registered_population = 500
    assert service.district_of([a, b]).registered_population == 1500
    assert rules.coverage_rate(9, 1500) == "0.60" and rules.coverage_rate(9, None) is None


# --- properties of the pure rules ------------------------------------------------------------

spans = st.lists(
    st.tuples(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2), st.integers(1, 8), st.integers(1, 12)),
    min_size=1, max_size=20,
)


@given(spans)
def test_weighted_per_capita_lies_between_the_smallest_and_largest_per_capita_amount(items) -> None:  # noqa: ANN001
    totals = rules.Totals()
    for amount, members, months in items:
        totals += rules.Totals(Fraction(amount) * months, members * months)
    value = rules.per_capita_benefit(totals)
    per_capita = [Fraction(amount) / members for amount, members, _ in items]
    assert value is not None and min(per_capita) <= value <= max(per_capita)
    shown = Decimal(rules.yuan_text(value))
    assert abs(Fraction(shown) - value) <= Fraction(1, 200) and shown == shown.quantize(Decimal("0.01"))


@given(st.fractions(min_value=Fraction(1, 100), max_value=10_000), st.fractions(min_value=Fraction(1, 100), max_value=10_000))
def test_growth_ratio_rounding_and_target(current, previous) -> None:  # noqa: ANN001
    ratio = rules.growth_ratio(current, previous)
    assert ratio == current / previous
    text = rules.ratio_text(ratio)
    assert len(text.split(".")[1]) == 4 and abs(Fraction(Decimal(text)) - ratio) <= Fraction(1, 20000)
    assert rules.meets_target(ratio, Decimal("1.12")) == (current >= previous * Fraction(112, 100))
    assert rules.growth_ratio(current, 0) is None and rules.growth_ratio(None, previous) is None and rules.meets_target(None, Decimal("1.12")) is None


def test_half_up_at_the_half() -> None:
    assert rules.half_up(Fraction(112345, 100000), 4) == "1.1235" and rules.half_up(Fraction(-5, 1000), 2) == "-0.01"
    assert rules.ratio_text(Fraction(112, 100)) == "1.1200" and rules.half_up(Fraction(1, 3), 2) == "0.33"
    assert rules.meets_target(Fraction(111995, 100000), Decimal("1.12")) is False  # shown "1.1200", but below the target
