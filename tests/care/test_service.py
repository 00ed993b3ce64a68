"""Database-level tests of the care use cases: sweeps racing each other, handlers, KPI SQL.

These call the service layer on a migrated database (the end-to-end tests go through the
gateway): two sweepers at once must fire every overdue visit, escalation, reassessment and
supervision exactly once; two allocations at once must never give a bed twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import date, datetime

from sqlalchemy import func, select, text

from services.care import events
from services.care.devices import service as devices
from services.care.dispersed import service as dispersed
from services.care.handlers import handlers
from services.care.persons.models import Person
from services.care.persons.schemas import PersonIn
from services.care.persons.service import record_willingness, register_person
from services.care.placement import service as placement
from services.care.placement.models import CareHome
from services.care.placement.schemas import HomeIn, HomePatch
from services.care.selfcare import service as selfcare
from services.care.selfcare.models import Reassessment
from services.care.visits import service as visits
from services.care.visits.models import VisitPlan
from services.care.visits.schemas import VolunteerIn
from services.care.workers import run_sweep
from shared.auth import DISTRICT_ADMIN, TOWN_CASEWORKER
from shared.events.envelope import CloudEvent, new_event
from shared.events.models import OutboxEvent
from tests.care.conftest import CareDb, new_id_number, principal, registry_member

TOWN = "350505103"  # 峰尾镇
ADMIN = principal(DISTRICT_ADMIN)
CASEWORKER = principal(TOWN_CASEWORKER, TOWN)


async def events_of(db: CareDb, event_type: str) -> list[OutboxEvent]:
    async with db.sessions() as session:
        return list((await session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == event_type))).all())


async def handle(db: CareDb, event_type: str, data: dict, subject: str = "s") -> None:
    event = CloudEvent(id=str(uuid.uuid4()), source="/services/eligibility", type=event_type, time=db.clock.now(),
                       subject=subject, data=data)
    async with db.uow() as uow:
        await handlers.get(event_type)(event, uow=uow)
        await uow.commit()


async def tekun(db: CareDb, *, town: str = TOWN, **fields) -> Person:
    member = registry_member(**fields)
    household_id = f"hh-{uuid.uuid4().hex[:8]}"
    await handle(db, "eligibility.household.registered", {"household_id": household_id, "town": town, "village": None,
                                                          "members": [member]})
    await handle(db, "eligibility.benefit.granted", {
        "benefit_id": f"b-{uuid.uuid4().hex[:8]}", "household_id": household_id, "person_id": member["person_id"],
        "category": "tekun", "effective_month": "2020-01", "members": [member["person_id"]], "town": town, "village": None,
    })
    async with db.sessions() as session:
        return (await session.scalars(select(Person).where(Person.eligibility_person_id == member["person_id"]))).one()


async def sweep_twice_at_once(db: CareDb, sweep, batch: int) -> tuple[int, int]:
    a, b = await asyncio.gather(run_sweep(db.uow, sweep, batch=batch), run_sweep(db.uow, sweep, batch=batch))
    return a, b


async def test_two_sweepers_fire_each_overdue_visit_once(care_db: CareDb) -> None:
    care_db.set("2020-06-01T09:00:00+08:00")
    async with care_db.uow() as uow:
        volunteer = await visits.create_volunteer(uow=uow, principal=CASEWORKER, data=VolunteerIn(
            sub=f"vol-{uuid.uuid4().hex[:6]}", name="志愿者", town=TOWN))
        plan_ids = []
        for n in range(120):
            person = await register_person(uow=uow, principal=CASEWORKER, data=PersonIn(
                name=f"老人{n}", id_number=new_id_number(date(1940, 1, 1) if n % 2 else date(1941, 2, 2)), town=TOWN))
            plan = await visits.create_plan(uow=uow, principal=CASEWORKER, person_id=person.id, category="dependent_elderly",
                                            volunteer_id=volunteer.id, starts_on=None)
            plan_ids.append(plan.id)
        await uow.commit()
    assert plan.next_due == date(2020, 6, 15)  # dependent_elderly: every 14 days

    care_db.set("2020-06-15T23:00:00+08:00")  # due today: not overdue yet
    assert await sweep_twice_at_once(care_db, visits.sweep_overdue_visits, 25) == (0, 0)

    care_db.set("2020-06-16T00:30:00+08:00")
    a, b = await sweep_twice_at_once(care_db, visits.sweep_overdue_visits, 25)
    assert a + b == 120
    fired = await events_of(care_db, "care.visit.overdue")
    assert Counter(e.envelope["subject"] for e in fired) == {str(p): 1 for p in plan_ids}
    assert fired[0].envelope["data"]["due_on"] == "2020-06-15"
    assert fired[0].envelope["data"]["rule"] == "R-LB-2"
    # the envelopes the sweep builds in SQL are the shared CloudEvent with events.VisitOverdue data
    reference = new_event("care.visit.overdue", {}, source="/services/care", time=care_db.clock.now()).model_dump(
        mode="json", exclude_none=True)
    for row in fired:
        envelope = CloudEvent.model_validate(row.envelope)
        assert envelope.id == row.event_id and envelope.type == row.event_type == "care.visit.overdue"
        assert set(row.envelope) == set(reference) | {"subject"}
        assert (row.envelope["source"], row.envelope["time"], row.envelope["specversion"]) == (
            reference["source"], reference["time"], "1.0")
        data = events.VisitOverdue.model_validate(row.envelope["data"])
        assert data.model_dump(mode="json") == row.envelope["data"]
        assert data.plan_id == row.envelope["subject"] and data.volunteer_id == str(volunteer.id)
    # a later pass finds nothing more
    assert await sweep_twice_at_once(care_db, visits.sweep_overdue_visits, 25) == (0, 0)

    # a visit moves the due date and re-arms the marker; the next lapse fires once more
    async with care_db.uow() as uow:
        visit, _, _ = await visits.record_visit(
            uow=uow, principal=CASEWORKER, plan_id=plan_ids[0], visited_on=date(2020, 6, 16), method="home_visit",
            findings="生活正常", referral=None, ability_changed=False)
        await uow.commit()
    assert visit.on_time is False and visit.due_on == date(2020, 6, 15)
    care_db.set("2020-07-01T08:00:00+08:00")  # 2020-06-16 + 14 = 06-30, passed
    a, b = await sweep_twice_at_once(care_db, visits.sweep_overdue_visits, 25)
    assert a + b == 1
    fired = await events_of(care_db, "care.visit.overdue")
    assert Counter(e.envelope["subject"] for e in fired)[str(plan_ids[0])] == 2


async def test_two_sweepers_escalate_each_alert_once(care_db: CareDb) -> None:
    care_db.set("2020-06-20T10:00:00+08:00")
    async with care_db.uow() as uow:
        person = await register_person(uow=uow, principal=CASEWORKER, data=PersonIn(
            name="独居老人", id_number=new_id_number(date(1938, 3, 3)), town=TOWN))
        serial = f"SOS-{uuid.uuid4().hex[:8]}"
        await devices.register_device(uow=uow, principal=CASEWORKER, serial=serial, kind="sos_button", person_id=person.id,
                                      installed_on=None)
        await uow.commit()
    alert_ids = []
    for n in range(40):
        async with care_db.uow() as uow:
            alert, created = await devices.receive_alert(uow=uow, serial=serial, kind="fall",
                                                         occurred_at=care_db.clock.now(), external_id=f"x{n}")
            await uow.commit()
        assert created
        alert_ids.append(alert.id)
    async with care_db.uow() as uow:
        await devices.acknowledge(uow=uow, principal=CASEWORKER, alert_id=alert_ids[0])
        await uow.commit()
    assert alert.ack_deadline == datetime.fromisoformat("2020-06-20T10:30:00+08:00")

    care_db.set("2020-06-20T10:29:59+08:00")
    assert await sweep_twice_at_once(care_db, devices.sweep_escalations, 10) == (0, 0)
    care_db.set("2020-06-20T10:30:00+08:00")
    a, b = await sweep_twice_at_once(care_db, devices.sweep_escalations, 10)
    assert a + b == 39
    fired = await events_of(care_db, "care.alert.escalated")
    assert Counter(e.envelope["subject"] for e in fired) == {str(i): 1 for i in alert_ids[1:]}
    assert await sweep_twice_at_once(care_db, devices.sweep_escalations, 10) == (0, 0)


async def test_reassessment_and_supervision_overdue_fire_once(care_db: CareDb) -> None:
    care_db.set("2020-06-15T09:00:00+08:00")
    person = await tekun(care_db)
    async with care_db.uow() as uow:
        request, created = await selfcare.report_ability_change(uow=uow, principal=CASEWORKER, person_id=person.id,
                                                                reported_on=None, description=None)
        contract = await dispersed.create_contract(
            uow=uow, principal=CASEWORKER, person_id=person.id, institution="泉港区颐康护理服务中心",
            institution_code=None, starts_on=date(2020, 2, 1), ends_on=None)
        await dispersed.record_supervision(uow=uow, principal=CASEWORKER, contract_id=contract.id, kind="duty_fulfilled",
                                           done_on=date(2020, 3, 10), inspector="张三", satisfactory=True, findings=None)
        await uow.commit()
    assert created and request.due_on == date(2020, 6, 30) and contract.period_months == 3

    # Q1 2020 had ended before the contract was registered: shown as overdue, not reported
    assert await sweep_twice_at_once(care_db, dispersed.sweep_overdue_supervisions, 100) == (0, 0)
    async with care_db.uow() as uow:
        status = await dispersed.contract_status(uow, contract)
    assert status["periods"][0]["kinds"] == {"duty_fulfilled": "done", "service_quality": "overdue", "regular_visit": "overdue"}
    assert status["periods"][1]["kinds"]["regular_visit"] == "pending"

    care_db.set("2020-07-01T00:00:00+08:00")
    a, b = await sweep_twice_at_once(care_db, selfcare.sweep_overdue_reassessments, 10)
    assert a + b == 1
    c, d = await sweep_twice_at_once(care_db, dispersed.sweep_overdue_supervisions, 100)
    assert c + d == 3  # Q2 2020: nothing recorded
    fired = await events_of(care_db, "care.supervision.overdue")
    assert sorted(e.envelope["data"]["kind"] for e in fired) == ["duty_fulfilled", "regular_visit", "service_quality"]
    assert {(e.envelope["data"]["period_start"], e.envelope["data"]["period_end"]) for e in fired} == {("2020-04-01", "2020-06-30")}
    assert len(await events_of(care_db, "care.reassessment.overdue")) == 1
    assert await sweep_twice_at_once(care_db, selfcare.sweep_overdue_reassessments, 10) == (0, 0)
    assert await sweep_twice_at_once(care_db, dispersed.sweep_overdue_supervisions, 100) == (0, 0)


async def test_two_allocations_at_once_never_give_a_bed_twice(care_db: CareDb) -> None:
    care_db.set("2020-06-15T09:00:00+08:00")
    async with care_db.uow() as uow:
        for home in (await uow.session.scalars(select(CareHome))).all():
            await placement.update_home(uow=uow, home_id=home.id, patch=HomePatch(active=False))
        home = await placement.create_home(uow=uow, data=HomeIn(
            name=f"测试敬老院{uuid.uuid4().hex[:4]}", kind="nursing_home", town=TOWN, beds=3, nursing_beds=2))
        await uow.commit()
    persons = [await tekun(care_db) for _ in range(6)]
    async with care_db.uow() as uow:
        for n, person in enumerate(persons):
            await selfcare.record_assessment(
                uow=uow, principal=CASEWORKER, person_id=person.id,
                not_achieved=["eating", "dressing", "bed_transfer", "toileting"] if n < 4 else ["bathing"],
                assessed_on=date(2020, 3, 1 + n), assessor="评估员", note=None)
            await record_willingness(uow=uow, principal=CASEWORKER, person_id=person.id, willing=True, recorded_on=None)
            await placement.request_placement(uow=uow, principal=CASEWORKER, person_id=person.id, requested_on=None,
                                              preferred_home_id=None)
        await uow.commit()

    async def allocate():
        async with care_db.uow() as uow:
            made, waiting, _ = await placement.allocate(uow=uow, principal=ADMIN, town_code=None)
            await uow.commit()
            return [(m.person_id, m.bed_type) for m in made]

    first, second = await asyncio.gather(allocate(), allocate())
    made = first + second
    # 2 nursing beds to the two earliest-assessed full-loss persons, the ordinary bed to the first partial-loss one
    assert sorted(made, key=str) == sorted(
        [(persons[0].id, "nursing"), (persons[1].id, "nursing"), (persons[4].id, "ordinary")], key=str)
    async with care_db.uow() as uow:
        used = (await placement.occupancy(uow, [home.id]))[home.id]
        assert used == {"nursing": 2, "ordinary": 1}
        rate = await placement.centralized_rate(uow, date(2020, 6, 15), TOWN)
        assert (rate["towns"][0].full_loss, rate["towns"][0].centralized) == (4, 2)
        assert str(rate["towns"][0].rate) == "0.5000" and rate["towns"][0].met is True
        before = await placement.centralized_rate(uow, date(2020, 6, 14), TOWN)
        assert (before["towns"][0].full_loss, before["towns"][0].centralized) == (4, 0)
        early = await placement.centralized_rate(uow, date(2020, 3, 2), TOWN)
        assert early["towns"][0].full_loss == 2  # only two assessed by then


async def test_registry_events_update_the_projection_and_death_ends_everything(care_db: CareDb) -> None:
    care_db.set("2020-06-15T09:00:00+08:00")
    member = registry_member(disability_grade=2, disability_kind="physical")
    household_id = f"hh-{uuid.uuid4().hex[:8]}"
    # the grant may arrive before the household: a stub is filled in later
    await handle(care_db, "eligibility.benefit.granted", {
        "benefit_id": "b-x1", "household_id": household_id, "person_id": member["person_id"], "category": "tekun",
        "effective_month": "2020-02", "members": [member["person_id"]], "town": TOWN, "village": None})
    await handle(care_db, "eligibility.household.registered", {"household_id": household_id, "town": TOWN,
                                                               "village": "350505103001", "members": [member]})
    async with care_db.sessions() as session:
        person = (await session.scalars(select(Person).where(Person.eligibility_person_id == member["person_id"]))).one()
    assert person.tekun and person.tekun_since == date(2020, 2, 1) and person.id_number == member["id_number"]
    assert person.village == "350505103001" and person.name == member["name"]

    # a changed disability opens a reassessment (R-TK-1)
    await handle(care_db, "eligibility.household.changed", {"household_id": household_id, "town": TOWN,
                                                            "village": "350505103001",
                                                            "members": [{**member, "disability_grade": 1}]})
    async with care_db.uow() as uow:
        rows = await selfcare.list_reassessments(uow, scope=[Reassessment.town == TOWN], status="open", after=None, limit=100)
        assert [r.source for r in rows if r.person_id == person.id] == ["registry"]
        volunteer = await visits.create_volunteer(uow=uow, principal=CASEWORKER, data=VolunteerIn(
            sub=f"vol-{uuid.uuid4().hex[:6]}", name="志愿者乙", town=TOWN))
        plan = await visits.create_plan(uow=uow, principal=CASEWORKER, person_id=person.id, category="dependent_elderly",
                                        volunteer_id=volunteer.id, starts_on=None)
        await uow.commit()

    await handle(care_db, "eligibility.person.deceased", {"person_id": member["person_id"], "household_id": household_id,
                                                          "died_on": "2020-06-14", "town": TOWN})
    person_id, plan_id = person.id, plan.id
    async with care_db.sessions() as session:
        assert (await session.get(Person, person_id)).deceased_on == date(2020, 6, 14)
        plan = await session.get(VisitPlan, plan_id)
        assert (plan.status, plan.end_reason) == ("ended", "deceased")
        open_left = await session.scalar(
            select(func.count()).select_from(Reassessment).where(Reassessment.person_id == person_id,
                                                                 Reassessment.status == "open"))
        assert open_left == 0
    # the same death again changes nothing
    await handle(care_db, "eligibility.person.deceased", {"person_id": member["person_id"], "household_id": household_id,
                                                          "died_on": "2020-06-10", "town": TOWN})
    async with care_db.sessions() as session:
        assert (await session.get(Person, person_id)).deceased_on == date(2020, 6, 14)

    # the end of tekun support
    await handle(care_db, "eligibility.benefit.ended", {"benefit_id": "b-x1", "household_id": household_id,
                                                        "person_id": member["person_id"], "category": "tekun",
                                                        "last_month": "2020-06", "reason": "deceased"})
    async with care_db.sessions() as session:
        person = await session.get(Person, person_id)
        assert person.tekun is False and person.tekun_until == date(2020, 6, 1)


async def test_moves_within_and_out_of_the_district(care_db: CareDb) -> None:
    care_db.set("2020-06-15T09:00:00+08:00")
    person = await tekun(care_db)
    member_id = person.eligibility_person_id
    async with care_db.uow() as uow:
        volunteer = await visits.create_volunteer(uow=uow, principal=CASEWORKER, data=VolunteerIn(
            sub=f"vol-{uuid.uuid4().hex[:6]}", name="志愿者丙", town=TOWN))
        plan = await visits.create_plan(uow=uow, principal=CASEWORKER, person_id=person.id, category="dependent_elderly",
                                        volunteer_id=volunteer.id, starts_on=None)
        await uow.commit()
    # the old household's changed event lists the person as moved away: their address is not overwritten
    await handle(care_db, "eligibility.person.moved", {"person_id": member_id, "household_id": person.household_id,
                                                       "from_town": TOWN, "to_town": "350505106", "moved_on": "2020-06-14",
                                                       "to_household_id": "hh-new"})
    await handle(care_db, "eligibility.household.changed", {
        "household_id": person.household_id, "town": TOWN, "village": None,
        "members": [{**registry_member(), "person_id": member_id, "id_number": person.id_number, "status": "moved_away"}]})
    async with care_db.sessions() as session:
        moved = await session.get(Person, person.id)
        assert (moved.town, moved.household_id) == ("350505106", "hh-new")
        assert (await session.get(VisitPlan, plan.id)).town == "350505106"
    # out of the district: the care here ends
    await handle(care_db, "eligibility.person.moved", {"person_id": member_id, "household_id": "hh-new",
                                                       "from_town": "350505106", "to_town": None, "moved_on": "2020-06-15",
                                                       "to_household_id": None})
    async with care_db.sessions() as session:
        plan = await session.get(VisitPlan, plan.id)
        assert (plan.status, plan.end_reason, plan.ended_on) == ("ended", "moved_away", date(2020, 6, 15))


async def _row_version(db: CareDb, person_id: uuid.UUID) -> str:
    """The row's xmin: unchanged while no statement has written the row."""
    async with db.sessions() as session:
        return (await session.execute(text("SELECT xmin::text FROM persons WHERE id = :id"), {"id": person_id})).scalar_one()


async def test_household_events_link_refresh_skip_unchanged_and_report_deaths(care_db: CareDb) -> None:
    care_db.set("2020-06-15T09:00:00+08:00")
    village = "350505103001"
    async with care_db.uow() as uow:
        child = await register_person(uow=uow, principal=CASEWORKER, data=PersonIn(
            name="留守儿童", id_number=new_id_number(date(2012, 3, 4)), town=TOWN))
        await uow.commit()
    elder = await tekun(care_db, disability_grade=3, disability_kind="physical")
    async with care_db.uow() as uow:
        volunteer = await visits.create_volunteer(uow=uow, principal=CASEWORKER, data=VolunteerIn(
            sub=f"vol-{uuid.uuid4().hex[:6]}", name="志愿者丁", town=TOWN))
        plan = await visits.create_plan(uow=uow, principal=CASEWORKER, person_id=elder.id, category="dependent_elderly",
                                        volunteer_id=volunteer.id, starts_on=None)
        await uow.commit()
    household_id = elder.household_id
    members = [
        registry_member(person_id=elder.eligibility_person_id, id_number=elder.id_number, name=elder.name,
                        birth=elder.birth_date, disability_grade=3, disability_kind="physical"),
        # registered here first: linked by ID number, not duplicated
        registry_member(id_number=child.id_number, name="留守儿童", birth=date(2012, 3, 4), left_behind="child"),
        # a new person without a name: it stays unknown
        registry_member(name="", sex="female"),
    ]
    data = {"household_id": household_id, "town": TOWN, "village": village, "members": members}
    await handle(care_db, "eligibility.household.changed", data)
    async with care_db.sessions() as session:
        linked = await session.get(Person, child.id)
        assert (linked.source, linked.eligibility_person_id, linked.household_id) == (
            "eligibility", members[1]["person_id"], household_id)
        assert (linked.village, linked.left_behind) == (village, "child")
        assert await session.scalar(select(func.count()).select_from(Person).where(
            Person.id_number == child.id_number)) == 1
        new = (await session.scalars(select(Person).where(Person.eligibility_person_id == members[2]["person_id"]))).one()
        assert (new.source, new.town, new.village, new.name, new.tekun, new.long_term_care) == (
            "eligibility", TOWN, village, None, False, False)
        assert new.birth_date == date(1940, 5, 1) and new.sex == "female"
    versions = [await _row_version(care_db, p) for p in (elder.id, child.id, new.id)]

    # the same state again writes nothing and opens nothing
    await handle(care_db, "eligibility.household.changed", data)
    assert [await _row_version(care_db, p) for p in (elder.id, child.id, new.id)] == versions
    async with care_db.uow() as uow:
        rows = await selfcare.list_reassessments(uow, scope=[Reassessment.town == TOWN], status="open", after=None, limit=500)
        assert [r.person_id for r in rows if r.person_id in {elder.id, child.id, new.id}] == []

    # an empty name keeps the one known; a disability change of a non-tekun person opens nothing
    await handle(care_db, "eligibility.household.changed", {**data, "village": "350505999999", "members": [
        {**members[1], "name": "", "disability_grade": 4, "disability_kind": "speech"}]})
    async with care_db.sessions() as session:
        linked = await session.get(Person, child.id)
        assert (linked.name, linked.village, linked.disability_grade) == ("留守儿童", village, 4)
        assert await session.scalar(select(func.count()).select_from(Reassessment).where(
            Reassessment.person_id == child.id)) == 0

    # a death in the household event ends the care once; a later event without it does not clear it
    care_db.set("2020-06-20T09:00:00+08:00")
    await handle(care_db, "eligibility.household.changed", {**data, "members": [
        {**members[0], "deceased_on": "2020-06-18", "disability_grade": 1, "status": "deceased"}]})
    await handle(care_db, "eligibility.household.changed", {**data, "members": [{**members[0], "disability_grade": 2}]})
    async with care_db.sessions() as session:
        dead = await session.get(Person, elder.id)
        assert (dead.deceased_on, dead.disability_grade) == (date(2020, 6, 18), 2)
        ended = await session.get(VisitPlan, plan.id)
        assert (ended.status, ended.end_reason, ended.ended_on) == ("ended", "deceased", date(2020, 6, 18))
        assert await session.scalar(select(func.count()).select_from(Reassessment).where(
            Reassessment.person_id == elder.id, Reassessment.status == "open")) == 0


async def test_household_events_in_one_unit_of_work_see_earlier_handlers(care_db: CareDb) -> None:
    """As the consumer's batch runs them: the household handler reads what an earlier handler of
    the same unit of work changed but did not flush, and Person objects it loaded stay current."""
    care_db.set("2020-06-15T09:00:00+08:00")
    member = registry_member(disability_grade=2, disability_kind="physical")
    household_id = f"hh-{uuid.uuid4().hex[:8]}"
    data = {"household_id": household_id, "town": TOWN, "village": "350505103002", "members": [member]}
    granted = {"benefit_id": f"b-{uuid.uuid4().hex[:8]}", "household_id": household_id, "person_id": member["person_id"],
               "category": "tekun", "effective_month": "2020-03", "members": [member["person_id"]], "town": TOWN,
               "village": None}

    def event(event_type: str, payload: dict) -> CloudEvent:
        return CloudEvent(id=str(uuid.uuid4()), source="/services/eligibility", type=event_type,
                          time=care_db.clock.now(), subject=household_id, data=payload)

    async with care_db.uow() as uow:
        await handlers.get("eligibility.household.registered")(event("eligibility.household.registered", data), uow=uow)
        await handlers.get("eligibility.benefit.granted")(event("eligibility.benefit.granted", granted), uow=uow)
        # the tekun flag is set on a loaded Person, not flushed yet
        changed = {**data, "members": [{**member, "name": "改名人员", "disability_grade": 1}]}
        await handlers.get("eligibility.household.changed")(event("eligibility.household.changed", changed), uow=uow)
        loaded = await uow.session.scalar(select(Person).where(Person.eligibility_person_id == member["person_id"]))
        assert (loaded.tekun, loaded.name, loaded.disability_grade, loaded.village) == (True, "改名人员", 1, "350505103002")
        # a change without consequences: written in SQL only, the loaded object follows
        renamed = {**changed, "members": [{**changed["members"][0], "name": "再改名", "left_behind": "elderly"}]}
        await handlers.get("eligibility.household.changed")(event("eligibility.household.changed", renamed), uow=uow)
        again = await uow.session.scalar(select(Person).where(Person.eligibility_person_id == member["person_id"]))
        assert again is loaded and (loaded.name, loaded.left_behind) == ("再改名", "elderly")
        await uow.commit()
    async with care_db.sessions() as session:
        person = (await session.scalars(select(Person).where(Person.eligibility_person_id == member["person_id"]))).one()
        assert (person.tekun, person.tekun_since, person.name, person.disability_grade) == (True, date(2020, 3, 1), "再改名", 1)
        reasons = (await session.scalars(select(Reassessment.source).where(Reassessment.person_id == person.id))).all()
        assert reasons == ["registry"]  # the tekun flag set earlier in the unit of work was seen
