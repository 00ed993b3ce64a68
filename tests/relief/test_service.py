"""Database-level tests of the relief use cases, the timer loop and the reserve ledger.

These call the service layer directly on a migrated database (the end-to-end tests go through
the gateway): concurrency of two timer loops, ledger constraints, calendar recomputation and the
eligibility projections.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from services.relief.cases import service as cases
from services.relief.cases.models import CaseTimer, ReliefCase
from services.relief.cases.schemas import CaseIn
from services.relief.cases.timers import run_timer_pass
from services.relief.funds import service as funds
from services.relief.funds.models import ReserveAccount
from services.relief.handlers import handlers
from shared.auth import DISTRICT_ADMIN, DISTRICT_APPROVER, TOWN_APPROVER, TOWN_CASEWORKER
from shared.calendar_store import store_year
from shared.errors import Problem
from shared.events.envelope import CloudEvent
from shared.events.models import OutboxEvent
from shared.ids import make_id_number
from tests.relief.conftest import ReliefDb, principal

TOWN = "350505101"  # 界山镇
OTHER_TOWN = "350505102"
ADMIN = principal(DISTRICT_ADMIN)
CASEWORKER = principal(TOWN_CASEWORKER, TOWN)
APPROVER = principal(TOWN_APPROVER, TOWN)
DISTRICT = principal(DISTRICT_APPROVER)


def non_local(n: int = 0, *, town: str = TOWN, amount: str = "1000.00", accepted_at: str | None = None,
              documents: list | None = None) -> CaseIn:
    body = {
        "kind": "emergency", "town": town, "cause": "accident", "reason": "work accident",
        "applicant": {"type": "non_local", "name": "测试", "category": "migrant_worker",
                      "id_number": make_id_number("350505", date(1990, 1, 1), n % 500, "male")},
        "amount": amount,
        "documents": documents if documents is not None else [],
    }
    if accepted_at:
        body["accepted_at"] = accepted_at
    return CaseIn.model_validate(body)


async def open_cases(db: ReliefDb, count: int, **kwargs) -> list[uuid.UUID]:
    ids = []
    async with db.uow() as uow:
        for n in range(count):
            case = await cases.open_case(uow=uow, principal=ADMIN, data=non_local(n, **kwargs))
            ids.append(case.id)
        await uow.commit()
    return ids


async def outbox_count(db: ReliefDb, event_type: str, case_ids: list[uuid.UUID]) -> dict[str, int]:
    """How many events of ``event_type`` the outbox holds per case (subject)."""
    wanted = {str(i) for i in case_ids}
    async with db.sessions() as session:
        envelopes = (await session.scalars(select(OutboxEvent.envelope).where(OutboxEvent.event_type == event_type))).all()
    return dict(Counter(e["subject"] for e in envelopes if e.get("subject") in wanted))


async def test_two_timer_loops_fire_each_breach_once(relief_db: ReliefDb) -> None:
    relief_db.set("2020-06-01T09:00:00+08:00")
    ids = await open_cases(relief_db, 120)
    relief_db.set("2020-06-20T09:00:00+08:00")  # deadline 2020-06-08 24:00 long passed
    # A second "process": its own engine and sessions on the same database, same clock.
    other = ReliefDb(relief_db.url, relief_db.clock)
    try:
        results = await asyncio.gather(*(
            run_timer_pass(db.uow, batch_size=10) for db in (relief_db, other, relief_db, other)
        ))
    finally:
        await other.engine.dispose()
    breaches = await outbox_count(relief_db, "relief.sla.breached", ids)
    assert breaches == {str(i): 1 for i in ids}
    assert sum(r.fired.get("relief.sla.breached", 0) for r in results) == 120
    # The at-risk warnings were moot (the deadline had passed): skipped, not emitted.
    assert await outbox_count(relief_db, "relief.sla.at_risk", ids) == {}
    assert sum(r.skipped for r in results) == 120
    # A later pass finds nothing.
    again = await run_timer_pass(relief_db.uow)
    assert again.total_fired == 0 and again.skipped == 0


async def test_at_risk_then_breach_then_nothing_after_payment(relief_db: ReliefDb) -> None:
    relief_db.set("2020-04-30T10:00:00+08:00")
    async with relief_db.uow() as uow:
        await funds.book_funding(uow=uow, principal=ADMIN, town=TOWN, year=2020, kind="allocation",
                                 amount=Decimal("20000.00"), reference=None, note=None)
        first = await cases.open_case(uow=uow, principal=CASEWORKER, data=non_local(1))
        second = await cases.open_case(uow=uow, principal=CASEWORKER, data=non_local(2))
        await uow.commit()
    assert first.deadline_at.isoformat() == "2020-05-12T00:00:00+08:00"
    relief_db.set("2020-05-10T00:00:00+08:00")  # one working day (11 May) remains
    result = await run_timer_pass(relief_db.uow)
    assert result.fired == {"relief.sla.at_risk": 2}
    # The first is paid before its deadline: no breach for it.
    async with relief_db.uow() as uow:
        await cases.approve_case(uow=uow, principal=APPROVER, case_id=first.id, amount=None, note=None)
        await cases.pay_case(uow=uow, principal=APPROVER, case_id=first.id, reference="BANK-1", amount=None)
        await uow.commit()
    relief_db.set("2020-05-12T00:00:00+08:00")
    result = await run_timer_pass(relief_db.uow)
    assert result.fired == {"relief.sla.breached": 1}
    assert await outbox_count(relief_db, "relief.sla.breached", [first.id, second.id]) == {str(second.id): 1}
    async with relief_db.sessions() as session:
        reserve = await session.get(ReserveAccount, (TOWN, 2020))
        assert reserve.balance == Decimal("19000.00") and reserve.paid == Decimal("1000.00")


async def test_paying_twice_and_tiers(relief_db: ReliefDb) -> None:
    relief_db.set("2020-07-01T10:00:00+08:00")
    async with relief_db.uow() as uow:
        small = await cases.open_case(uow=uow, principal=CASEWORKER, data=non_local(3, amount="500.00"))
        big = await cases.open_case(uow=uow, principal=CASEWORKER, data=non_local(4, amount="4500.00"))
        await uow.commit()
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.approve_case(uow=uow, principal=APPROVER, case_id=big.id, amount=None, note=None)
        assert (err.value.status, err.value.code) == (403, "approval_tier")
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.approve_case(uow=uow, principal=DISTRICT, case_id=small.id, amount=None, note=None)
        assert err.value.code == "approval_tier"
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:  # another town's approver does not even see it
            await cases.approve_case(uow=uow, principal=principal(TOWN_APPROVER, OTHER_TOWN), case_id=small.id, amount=None, note=None)
        assert err.value.status == 404
    async with relief_db.uow() as uow:
        approved = await cases.approve_case(uow=uow, principal=DISTRICT, case_id=big.id, amount=None, note=None)
        assert approved.approver == "district"
        _, payment = await cases.pay_case(uow=uow, principal=DISTRICT, case_id=big.id, reference="FIN-9", amount=None)
        assert payment.fund == "district" and payment.reserve_year is None
        await uow.commit()
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.pay_case(uow=uow, principal=DISTRICT, case_id=big.id, reference="FIN-9", amount=None)
        assert (err.value.status, err.value.code) == (409, "already_paid")


async def test_reserve_never_below_zero_under_concurrency(relief_db: ReliefDb) -> None:
    town = "350505103"
    worker, approver = principal(TOWN_CASEWORKER, town), principal(TOWN_APPROVER, town)
    relief_db.set("2021-03-01T10:00:00+08:00")
    async with relief_db.uow() as uow:
        await funds.book_funding(uow=uow, principal=ADMIN, town=town, year=2021, kind="allocation",
                                 amount=Decimal("5000.00"), reference=None, note=None)
        ids = []
        for n in range(4):
            case = await cases.open_case(uow=uow, principal=worker, data=non_local(10 + n, town=town, amount="2000.00"))
            await uow.session.flush()
            ids.append(case.id)
        await uow.commit()
    for case_id in ids:  # approval checks the reserve but does not earmark it: all four pass
        async with relief_db.uow() as uow:
            await cases.approve_case(uow=uow, principal=approver, case_id=case_id, amount=None, note=None)
            await uow.commit()

    async def pay(case_id: uuid.UUID) -> str:
        async with relief_db.uow() as uow:
            try:
                await cases.pay_case(uow=uow, principal=approver, case_id=case_id, reference=f"B-{case_id}", amount=None)
                await uow.commit()
                return "paid"
            except Problem as exc:
                return exc.code

    outcomes = await asyncio.gather(*(pay(i) for i in ids))
    assert sorted(outcomes) == ["paid", "paid", "reserve_insufficient", "reserve_insufficient"]
    async with relief_db.sessions() as session:
        account = await session.get(ReserveAccount, (town, 2021))
        assert (account.balance, account.paid) == (Decimal("1000.00"), Decimal("4000.00"))
    # The database itself refuses a negative balance, whatever the code does.
    async with relief_db.sessions() as session:
        with pytest.raises(IntegrityError):
            await session.execute(update(ReserveAccount).where(ReserveAccount.town == town)
                                  .values(paid=Decimal("6000.00"), balance=Decimal("-1000.00")))
        await session.rollback()


async def test_provisional_deadline_is_recomputed_when_the_year_is_loaded(relief_db: ReliefDb) -> None:
    relief_db.set("2027-09-29T10:00:00+08:00")  # no official 2027 calendar: Monday–Friday
    [case_id] = await open_cases(relief_db, 1, town=OTHER_TOWN)
    async with relief_db.sessions() as session:
        case = await session.get(ReliefCase, case_id)
        assert case.provisional is True
        assert case.deadline_date == date(2027, 10, 6)  # Thu 30, Fri 1, Mon 4, Tue 5, Wed 6
    async with relief_db.uow() as uow:
        # An administrator loads 2027: 1–7 October off, Saturday 9 October a make-up day.
        holidays = ["2027-10-01", "2027-10-04", "2027-10-05", "2027-10-06", "2027-10-07"]
        await store_year(uow.session, 2027, holidays, ["2027-10-09"])
        changed = await cases.recompute_for_year(2027, uow)
        await uow.commit()
    assert changed >= 1
    async with relief_db.sessions() as session:
        case = await session.get(ReliefCase, case_id)
        timers = {t.kind: t for t in (await session.scalars(select(CaseTimer).where(CaseTimer.case_id == case_id))).all()}
    # Thu 30 Sep, Fri 8 Oct, Sat 9 Oct, Mon 11, Tue 12.
    assert (case.deadline_date, case.provisional) == (date(2027, 10, 12), False)
    assert timers["sla_breach"].due_at == case.deadline_at
    assert case.deadline_at == datetime.fromisoformat("2027-10-13T00:00:00+08:00")
    assert timers["sla_at_risk"].due_at == datetime.fromisoformat("2027-10-12T00:00:00+08:00")


async def test_paperwork_reminder(relief_db: ReliefDb) -> None:
    town = "350505105"
    worker, approver = principal(TOWN_CASEWORKER, town), principal(TOWN_APPROVER, town)
    relief_db.set("2020-09-28T15:00:00+08:00")
    async with relief_db.uow() as uow:
        await funds.book_funding(uow=uow, principal=ADMIN, town=town, year=2020, kind="allocation",
                                 amount=Decimal("3000.00"), reference=None, note=None)
        case = await cases.open_case(uow=uow, principal=worker, data=non_local(
            20, town=town, documents=[{"code": "application", "received": True}]))
        await cases.approve_case(uow=uow, principal=approver, case_id=case.id, amount=None, note=None)
        await cases.pay_case(uow=uow, principal=approver, case_id=case.id, reference="B-20", amount=None)
        await uow.commit()
    assert case.paperwork_due_date == date(2020, 10, 19)
    relief_db.set("2020-10-20T00:00:01+08:00")
    result = await run_timer_pass(relief_db.uow)
    assert result.fired.get("relief.paperwork.overdue", 0) >= 1  # earlier tests' cases are due too
    async with relief_db.sessions() as session:
        [event] = (await session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == "relief.paperwork.overdue",
            OutboxEvent.envelope["subject"].astext == str(case.id)))).all()
    assert event.envelope["data"]["missing_documents"] == ["id_card", "incident_proof", "bank_account"]


async def test_eligibility_projection_and_referral(relief_db: ReliefDb) -> None:
    household, person = f"hh-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    id_number = make_id_number("350505", date(1960, 5, 1), 7, "female")

    async def deliver(event_type: str, data: dict, at: str = "2020-06-01T08:00:00+08:00") -> None:
        event = CloudEvent(id=str(uuid.uuid4()), source="/services/eligibility", type=event_type,
                           time=datetime.fromisoformat(at), subject=data.get("household_id"), data=data)
        async with relief_db.uow() as uow:
            await handlers.get(event_type)(event, uow=uow)
            await uow.commit()

    member = {"person_id": person, "name": "王某", "id_number": id_number, "sex": "female", "birth_date": "1960-05-01",
              "relation": "head"}
    await deliver("eligibility.household.registered", {"household_id": household, "town": TOWN, "village": None,
                                                       "members": [member]})
    # An older "changed" event arriving late is ignored.
    await deliver("eligibility.household.changed", {"household_id": household, "town": OTHER_TOWN, "members": []},
                  at="2020-05-01T08:00:00+08:00")
    relief_db.set("2020-06-02T09:00:00+08:00")
    async with relief_db.uow() as uow:
        body = CaseIn.model_validate({
            "kind": "expenditure", "town": TOWN, "cause": "medical_expense", "reason": "hospital bills",
            "applicant": {"type": "registered", "id_number": id_number}, "amount": "2000.00"})
        case = await cases.open_case(uow=uow, principal=CASEWORKER, data=body)
        await uow.commit()
    assert (case.person_id, case.household_id, case.deadline_at) == (person, household, None)  # no SLA: expenditure

    referral = {"referral_id": f"r-{uuid.uuid4().hex[:8]}", "household_id": household, "town": TOWN,
                "kind": "expenditure_relief", "reasons": ["expenditure_shock"], "suggested_amount": "3000.00"}
    await deliver("eligibility.referral.created", referral)
    await deliver("eligibility.referral.created", referral)  # replayed by another path: still one case
    await deliver("eligibility.referral.created", {**referral, "referral_id": "other", "kind": "assessment"})
    async with relief_db.sessions() as session:
        suggested = (await session.scalars(select(ReliefCase).where(ReliefCase.household_id == household,
                                                                    ReliefCase.status == "suggested"))).all()
    assert len(suggested) == 1
    assert (suggested[0].kind, suggested[0].suggested_amount) == ("expenditure", Decimal("3000.00"))

    await deliver("eligibility.person.deceased", {"person_id": person, "household_id": household, "died_on": "2020-06-01",
                                                   "town": TOWN})
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.open_case(uow=uow, principal=CASEWORKER, data=body)
        assert err.value.code == "applicant_deceased"


async def test_a_pass_with_nothing_due_is_one_index_probe(relief_db: ReliefDb) -> None:
    async with relief_db.sessions() as session:
        plan = "\n".join(r[0] for r in (await session.execute(text(
            "EXPLAIN SELECT * FROM case_timers WHERE fired_at IS NULL AND due_at <= now() "
            "ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED"))).all())
    await asyncio.sleep(0)
    assert "ix_case_timers_pending_due" in plan or "Seq Scan" in plan  # tiny table may seq-scan


async def test_suggested_case_accepted_then_refused(relief_db: ReliefDb) -> None:
    household, person = f"hh-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    relief_db.set("2020-08-03T09:00:00+08:00")
    event_time = datetime.fromisoformat("2020-08-01T09:00:00+08:00")
    async with relief_db.uow() as uow:
        from services.relief.registry.service import apply_household

        await apply_household(uow.session, {"household_id": household, "town": TOWN, "members": [
            {"person_id": person, "name": "陈某", "id_number": make_id_number("350505", date(1975, 3, 3), 9, "male"),
             "status": "active"}]}, event_time)
        suggested = await cases.open_suggested_case(uow=uow, data={
            "referral_id": f"r-{uuid.uuid4().hex[:8]}", "household_id": household, "town": TOWN,
            "kind": "expenditure_relief", "reasons": ["expenditure_shock"], "suggested_amount": None})
        await uow.commit()
    from services.relief.cases.schemas import AcceptIn

    stranger = AcceptIn.model_validate({"applicant": {"type": "registered", "person_id": "someone-else"},
                                        "amount": "900.00", "cause": "medical_expense", "reason": "bills"})
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.accept_case(uow=uow, principal=CASEWORKER, case_id=suggested.id, data=stranger)
        assert err.value.code == "unknown_person"
    # Accepted as an emergency case: the SLA starts at acceptance.
    body = AcceptIn.model_validate({"kind": "emergency", "applicant": {"type": "registered", "person_id": person},
                                    "amount": "900.00", "cause": "acute_illness", "reason": "hospital"})
    async with relief_db.uow() as uow:
        case = await cases.accept_case(uow=uow, principal=CASEWORKER, case_id=suggested.id, data=body)
        await uow.commit()
    assert (case.status, case.kind, case.person_id, case.deadline_date) == ("open", "emergency", person, date(2020, 8, 10))
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.accept_case(uow=uow, principal=CASEWORKER, case_id=suggested.id, data=body)
        assert err.value.code == "case_not_suggested"
    async with relief_db.uow() as uow:
        refused = await cases.refuse_case(uow=uow, principal=APPROVER, case_id=case.id, reason="income above the line")
        await uow.commit()
    assert refused.status == "refused"
    async with relief_db.sessions() as session:
        left = (await session.scalars(select(CaseTimer).where(CaseTimer.case_id == case.id))).all()
    assert left == []  # no breach will ever fire for a refused case


async def test_expenditure_case_needs_documents_and_paperwork_completes(relief_db: ReliefDb) -> None:
    town = "350505106"
    worker, approver = principal(TOWN_CASEWORKER, town), principal(TOWN_APPROVER, town)
    relief_db.set("2020-08-04T09:00:00+08:00")
    async with relief_db.uow() as uow:
        await funds.book_funding(uow=uow, principal=ADMIN, town=town, year=2020, kind="allocation",
                                 amount=Decimal("5000.00"), reference=None, note=None)
        emergency = await cases.open_case(uow=uow, principal=worker, data=non_local(30, town=town, documents=[]))
        await cases.approve_case(uow=uow, principal=approver, case_id=emergency.id, amount=Decimal("800.00"), note=None)
        await uow.commit()
    assert emergency.amount_approved == Decimal("800.00") and emergency.paperwork_due_at is not None
    from services.relief.cases.schemas import DocumentIn

    docs = [DocumentIn(code=c, received=True) for c in ("application", "id_card", "incident_proof", "bank_account")]
    async with relief_db.uow() as uow:
        done = await cases.update_documents(uow=uow, principal=worker, case_id=emergency.id, items=docs)
        await uow.commit()
    assert done.paperwork_completed_at is not None
    async with relief_db.sessions() as session:
        kinds = {t.kind for t in (await session.scalars(select(CaseTimer).where(CaseTimer.case_id == emergency.id))).all()}
    assert "paperwork_overdue" not in kinds


async def test_parameter_versions(relief_db: ReliefDb) -> None:
    from services.relief.parameters.service import add_version, policy_on

    async with relief_db.uow() as uow:
        row = await add_version(uow=uow, principal=ADMIN, name="sla_working_days", value=Decimal("7"), valid_from=date(2040, 1, 1))
        await uow.commit()
    async with relief_db.sessions() as session:
        old, new = await policy_on(session, date(2039, 12, 31)), await policy_on(session, date(2040, 1, 1))
        with pytest.raises(Problem) as err:
            await policy_on(session, date(2019, 12, 31))
        assert err.value.code == "no_parameters_in_force"
    assert (old.sla_working_days, new.sla_working_days) == (5, 7)
    assert row.id in {v.id for v in new.versions}
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await add_version(uow=uow, principal=ADMIN, name="sla_working_days", value=Decimal("6"), valid_from=date(2039, 6, 1))
        assert err.value.code == "version_conflict"


async def test_person_moved_out_of_the_district(relief_db: ReliefDb) -> None:
    household, person = f"hh-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    id_number = make_id_number("350505", date(1981, 4, 4), 11, "male")

    async def deliver(event_type: str, data: dict) -> None:
        event = CloudEvent(id=str(uuid.uuid4()), source="/services/eligibility", type=event_type,
                           time=datetime.fromisoformat("2020-06-01T08:00:00+08:00"), subject=data.get("household_id"), data=data)
        async with relief_db.uow() as uow:
            await handlers.get(event_type)(event, uow=uow)
            await uow.commit()

    await deliver("eligibility.household.registered", {"household_id": household, "town": TOWN, "members": [
        {"person_id": person, "name": "黄某", "id_number": id_number, "relation": "head", "status": "active"}]})
    await deliver("eligibility.person.moved", {"person_id": person, "household_id": household, "from_town": TOWN,
                                               "to_town": None, "moved_on": "2020-06-01", "to_household_id": None})
    relief_db.set("2020-06-03T09:00:00+08:00")
    body = CaseIn.model_validate({"kind": "emergency", "town": TOWN, "cause": "accident", "reason": "x",
                                  "applicant": {"type": "registered", "person_id": person}, "amount": "500.00"})
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.open_case(uow=uow, principal=CASEWORKER, data=body)
        assert err.value.code == "applicant_moved_away"


# -- GET /cases?year= ------------------------------------------------------------------------------


async def test_cases_of_a_year_are_those_accepted_in_it_in_shanghai_time(databases) -> None:
    """``GET /cases?year=`` (the endpoint function, on a database of its own so the list is exact):
    the year of ``accepted_at`` in Asia/Shanghai, as the SLA KPIs count it. 2019 is impossible
    here (no relief parameters before 2020-01-01), so the neighbours are the last half hour of
    2020 and the first ten minutes of 2021 — the latter still 2020 in UTC."""
    from starlette.requests import Request

    from services.relief.cases.router import list_cases
    from shared.clock import ControllableClock
    from shared.migrations import upgrade
    from shared.pagination import PageParams

    url = await databases.create("relief_year")
    await asyncio.to_thread(upgrade, "relief", url)
    db = ReliefDb(url, ControllableClock(datetime.fromisoformat("2021-01-02T09:00:00+08:00")))
    try:
        async with db.uow() as uow:
            late = await cases.open_case(uow=uow, principal=ADMIN, data=non_local(1, accepted_at="2020-12-31T23:30:00+08:00"))
            early = await cases.open_case(uow=uow, principal=ADMIN, data=non_local(2, accepted_at="2021-01-01T00:10:00+08:00"))
            await uow.commit()

        async def listed(**filters) -> list[str]:
            given = {"town": None, "status": None, "kind": None, "sla_state": None, "person_id": None,
                     "household_id": None, "year": None, **filters}
            request = Request({"type": "http", "method": "GET", "path": "/api/v1/relief/cases", "headers": [], "query_string": b""})
            page = await list_cases(request, **given, page=PageParams(limit=50, after=None), uow=db.uow(), principal=ADMIN)
            return [c.id for c in page.items]

        assert await listed(year=2020) == [str(late.id)]
        assert await listed(year=2021) == [str(early.id)]
        assert await listed(year=2019) == []
        assert sorted(await listed()) == sorted([str(early.id), str(late.id)])
        db.set("2021-01-20T09:00:00+08:00")  # both past their 5 working days
        assert await listed(year=2021, town=TOWN, sla_state="breached") == [str(early.id)]  # combined (AND)
        assert await listed(year=2021, town=OTHER_TOWN) == []
        # In the SQL: a half-open range on the column itself (an index on it could serve it).
        sql = str(cases.list_query(cases.CaseFilter(year=2020), db.clock.now(), limit=10, after=None).compile())
        assert "cases.accepted_at >= :accepted_at_1 AND cases.accepted_at < :accepted_at_2" in sql
    finally:
        await db.engine.dispose()


# -- where a registered person applies (R-TR-6, R-DB-7) ---------------------------------------------


async def _register(db: ReliefDb, town: str, id_number: str, *, status: str = "active") -> tuple[str, str]:
    household, person = f"hh-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    async with db.uow() as uow:
        from services.relief.registry.service import apply_household

        await apply_household(uow.session, {"household_id": household, "town": town, "members": [
            {"person_id": person, "name": "郑某", "id_number": id_number, "status": status}]},
            datetime.fromisoformat("2020-07-01T09:00:00+08:00"))
        await uow.commit()
    return household, person


async def _refused(db: ReliefDb, who, body: dict) -> Problem:
    async with db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.open_case(uow=uow, principal=who, data=CaseIn.model_validate(body))
    return err.value


async def _cases_of(db: ReliefDb, **where) -> list[ReliefCase]:
    async with db.sessions() as session:
        return list((await session.scalars(select(ReliefCase).filter_by(**where))).all())


def _emergency(town: str, applicant: dict) -> dict:
    return {"kind": "emergency", "town": town, "cause": "accident", "reason": "x", "applicant": applicant,
            "amount": "100.00"}


async def test_a_person_of_another_town_is_refused_to_a_town_user_like_an_unknown_one(relief_db: ReliefDb) -> None:
    """The tester's case: a caseworker of 350505100 names a person registered in 350505101."""
    relief_db.set("2020-07-06T09:00:00+08:00")
    here, there = "350505100", "350505101"
    id_number = make_id_number("350505", date(1970, 7, 7), 21, "male")
    dead_id = make_id_number("350505", date(1940, 7, 7), 22, "male")
    household, person = await _register(relief_db, there, id_number)
    _, dead = await _register(relief_db, there, dead_id, status="deceased")
    worker = principal(TOWN_CASEWORKER, here)
    unknown = await _refused(relief_db, worker, _emergency(here, {
        "type": "registered", "id_number": make_id_number("350505", date(1970, 7, 7), 23, "male")}))
    assert (unknown.status, unknown.code) == (422, "unknown_person")
    for applicant in ({"type": "registered", "id_number": id_number}, {"type": "registered", "person_id": person},
                      {"type": "registered", "person_id": person, "id_number": dead_id},  # not id_number_mismatch
                      {"type": "registered", "person_id": dead}):  # not applicant_deceased
        refused = await _refused(relief_db, principal(TOWN_APPROVER, here), _emergency(here, applicant))
        assert refused.to_dict() == unknown.to_dict(), applicant  # same status, code, title, detail: nothing told
    # Expenditure-type relief too; nothing stored by any refusal.
    refused = await _refused(relief_db, worker, {**_emergency(here, {"type": "registered", "id_number": id_number}),
                                                 "kind": "expenditure", "cause": "medical_expense"})
    assert refused.to_dict() == unknown.to_dict()
    assert await _cases_of(relief_db, person_id=person) == [] and await _cases_of(relief_db, household_id=household) == []
    # The person's own town opens the case, with the person's details.
    async with relief_db.uow() as uow:
        case = await cases.open_case(uow=uow, principal=principal(TOWN_CASEWORKER, there),
                                     data=CaseIn.model_validate(_emergency(there, {"type": "registered", "id_number": id_number})))
        await uow.commit()
    assert (case.town, case.person_id, case.household_id, case.applicant_name) == (there, person, household, "郑某")


async def test_a_registered_id_number_is_not_a_non_local_applicant(relief_db: ReliefDb) -> None:
    """R-TR-6 is for persons without local registration: a registry ID number as ``non_local`` is
    422 ``registered_person``, the same answer in the person's town and in any other."""
    relief_db.set("2020-07-06T09:00:00+08:00")
    here, there = "350505100", "350505101"
    id_number = make_id_number("350505", date(1971, 7, 7), 31, "female")
    moved_id = make_id_number("350505", date(1972, 7, 7), 32, "female")
    await _register(relief_db, there, id_number)
    await _register(relief_db, there, moved_id, status="moved_away")
    answers = []
    for who, town in ((principal(TOWN_CASEWORKER, here), here), (principal(TOWN_CASEWORKER, there), there),
                      (ADMIN, here)):
        refused = await _refused(relief_db, who, _emergency(town, {
            "type": "non_local", "category": "migrant_worker", "name": "郑某", "id_number": id_number}))
        assert (refused.status, refused.code) == (422, "registered_person")
        answers.append(refused.to_dict())
    assert answers[0] == answers[1] == answers[2]
    assert await _cases_of(relief_db, id_number=id_number) == []
    # Someone who left the district's registry is a non-local now (R-TR-6).
    async with relief_db.uow() as uow:
        case = await cases.open_case(uow=uow, principal=principal(TOWN_CASEWORKER, here), data=CaseIn.model_validate(
            _emergency(here, {"type": "non_local", "category": "floating_population", "name": "郑某", "id_number": moved_id})))
        await uow.commit()
    assert (case.applicant_type, case.person_id, case.status) == ("non_local", None, "open")


async def test_district_roles_open_cases_in_any_town_but_in_the_persons_own(relief_db: ReliefDb) -> None:
    relief_db.set("2020-07-06T09:00:00+08:00")
    here, there = "350505100", "350505101"
    id_number = make_id_number("350505", date(1973, 7, 7), 41, "male")
    household, person = await _register(relief_db, there, id_number)
    for who in (ADMIN, DISTRICT):
        refused = await _refused(relief_db, who, _emergency(here, {"type": "registered", "id_number": id_number}))
        assert (refused.status, refused.code, refused.extensions) == (422, "applicant_other_town", {"applicant_town": there})
    assert await _cases_of(relief_db, person_id=person) == []
    async with relief_db.uow() as uow:
        case = await cases.open_case(uow=uow, principal=DISTRICT, data=CaseIn.model_validate(
            _emergency(there, {"type": "registered", "id_number": id_number})))
        await uow.commit()
    assert (case.town, case.person_id, case.household_id) == (there, person, household)


async def test_a_suggested_case_is_accepted_for_a_person_of_its_own_town_only(relief_db: ReliefDb) -> None:
    from services.relief.cases.schemas import AcceptIn

    relief_db.set("2020-07-06T09:00:00+08:00")
    here, there = "350505100", "350505101"
    _, stranger = await _register(relief_db, there, make_id_number("350505", date(1974, 7, 7), 51, "male"))
    async with relief_db.uow() as uow:
        suggested = await cases.open_suggested_case(uow=uow, data={
            "referral_id": f"r-{uuid.uuid4().hex[:8]}", "household_id": f"hh-{uuid.uuid4().hex[:8]}", "town": here,
            "kind": "expenditure_relief", "reasons": ["expenditure_shock"], "suggested_amount": None})
        await uow.commit()
    body = AcceptIn.model_validate({"kind": "emergency", "applicant": {"type": "registered", "person_id": stranger},
                                    "amount": "900.00", "cause": "acute_illness", "reason": "hospital"})
    async with relief_db.uow() as uow:
        with pytest.raises(Problem) as err:
            await cases.accept_case(uow=uow, principal=principal(TOWN_CASEWORKER, here), case_id=suggested.id, data=body)
    assert (err.value.status, err.value.code) == (422, "unknown_person")
    [still] = await _cases_of(relief_db, id=suggested.id)
    assert (still.status, still.person_id) == ("suggested", None)
