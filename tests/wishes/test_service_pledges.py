"""The wishes service's use cases against a real PostgreSQL database (no HTTP): what the database
itself guarantees (quota and money invariants under concurrency, the expiry sweep firing once)
and that the outbox envelopes built in SQL are the events the catalogue describes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from services.wishes import events
from services.wishes.campaigns import service as campaigns
from services.wishes.campaigns.models import Wish
from services.wishes.campaigns.schemas import CampaignIn, WishIn
from services.wishes.families.models import Family
from services.wishes.pledges import service as pledges
from services.wishes.pledges.models import Pledge
from services.wishes.pledges.schemas import PledgeIn, PledgeLineIn
from shared import regions
from shared.auth import Principal
from shared.clock import ControllableClock
from shared.db import UnitOfWork, make_engine, make_sessionmaker
from shared.errors import Problem
from shared.events.envelope import CloudEvent
from shared.events.models import OutboxEvent
from shared.migrations import upgrade

VILLAGE = regions.VILLAGES[20].code
TOWN = regions.town_of_village(VILLAGE).code
NOW = datetime(2020, 6, 15, 1, 0, tzinfo=UTC)
ADMIN = Principal("admin", roles=frozenset({"district_admin"}))
OFFICER = Principal("officer", roles=frozenset({"village_officer"}), town=TOWN, village=VILLAGE)
REVIEWER = Principal("reviewer", roles=frozenset({"town_approver"}), town=TOWN)


class Db:
    campaign_id: int

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, pool_size=20)
        self.sessions = make_sessionmaker(self.engine)
        self.clock = ControllableClock(NOW)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, source="/services/wishes", clock=self.clock)


@pytest.fixture(scope="module")
async def db(databases) -> AsyncIterator[Db]:
    url = await databases.create("wishes_svc")
    await asyncio.to_thread(upgrade, "wishes", url)
    database = Db(url)
    async with database.uow() as uow:
        campaign = await campaigns.create_campaign(
            uow=uow, principal=ADMIN, data=CampaignIn(name="测试", starts_on="2020-06-01"))
        await uow.commit()
        database.campaign_id = campaign.id
    yield database
    await database.engine.dispose()


async def family(db: Db) -> str:
    household_id = str(uuid.uuid4())
    async with db.uow() as uow:
        uow.session.add(Family(household_id=household_id, town=TOWN, village=VILLAGE, registered_poor=True,
                               lonely_elderly=False, child_in_difficulty=False, source_time=NOW))
        await uow.commit()
    return household_id


async def enter(db: Db, household_id: str, cost: str = "200.00", campaign_id: int | None = None) -> int:
    async with db.uow() as uow:
        wish = await campaigns.enter_wish(uow=uow, principal=OFFICER, campaign_id=campaign_id or db.campaign_id,
                                          data=WishIn(household_id=household_id, category="food", title="米", cost=cost))
        await uow.commit()
        return wish.id


async def published(db: Db, cost: str, campaign_id: int) -> int:
    wish_id = await enter(db, await family(db), cost, campaign_id)
    async with db.uow() as uow:
        await campaigns.publish_wish(uow=uow, principal=REVIEWER, wish_id=wish_id)
        await uow.commit()
    return wish_id


async def new_campaign(db: Db) -> int:
    async with db.uow() as uow:
        campaign = await campaigns.create_campaign(uow=uow, principal=ADMIN,
                                                   data=CampaignIn(name="测试", starts_on="2020-06-01"))
        await uow.commit()
        return campaign.id


async def pledge(db: Db, donor: str, items: list[tuple[int, str | None]], *,
                 one_statement: bool = False) -> pledges.PledgeMade:
    async with db.uow() as uow:
        made = await pledges.make_pledges(
            uow=uow, principal=Principal(donor, roles=frozenset({"donor"})),
            data=PledgeIn(items=[PledgeLineIn(wish_id=w, amount=a) for w, a in items]), one_statement=one_statement)
        await uow.commit()
        return made


async def test_ten_officers_at_once_get_exactly_five_slots(db: Db) -> None:
    campaign_id = await new_campaign(db)
    households = [await family(db) for _ in range(10)]
    results = await asyncio.gather(*(enter(db, h, campaign_id=campaign_id) for h in households), return_exceptions=True)
    # Any other exception is named, not counted as a slot: only a returned wish is "ok".
    codes = sorted(r.code if isinstance(r, Problem) else type(r).__name__ if isinstance(r, BaseException) else "ok"
                   for r in results)
    assert codes == ["ok"] * 5 + ["village_quota"] * 5
    async with db.uow() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(Wish).where(Wish.campaign_id == campaign_id))
    assert count == 5


@pytest.mark.parametrize("one_statement", [False, True], ids=["transaction", "one-statement"])
async def test_a_hundred_concurrent_pledges_never_exceed_the_cost(db: Db, one_statement: bool) -> None:
    campaign_id = await new_campaign(db)
    wish_id = await published(db, "500.00", campaign_id)
    offers = [None if i % 7 == 0 else f"{(i % 13) + 10}.{i % 100:02d}" for i in range(100)]
    results = await asyncio.gather(*(pledge(db, f"donor-{i % 9}", [(wish_id, offer)], one_statement=one_statement)
                                     for i, offer in enumerate(offers)), return_exceptions=True)
    made = [r for r in results if isinstance(r, pledges.PledgeMade)]
    refused = [r for r in results if not isinstance(r, pledges.PledgeMade)]
    assert all(isinstance(r, Problem) and r.code == "over_pledged" for r in refused), refused[:3]
    total = sum((p.amount for m in made for p in m.pledges), Decimal("0"))
    async with db.uow() as uow:
        wish = await uow.session.get(Wish, wish_id)
        stored = await uow.session.scalar(select(func.sum(Pledge.amount)).where(Pledge.wish_id == wish_id))
        assert wish.pledged == total == stored == Decimal("500.00")
        assert wish.status == "fully_pledged"
        outbox = await uow.session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.event_type == events.WISH_PLEDGED, OutboxEvent.envelope["subject"].astext == str(wish_id)))
        assert outbox == len(made)


async def test_the_database_refuses_an_over_pledge_on_its_own(db: Db) -> None:
    wish_id = await published(db, "10.00", await new_campaign(db))
    async with db.uow() as uow:
        with pytest.raises(IntegrityError, match="pledged_within_cost"):
            await uow.session.execute(text("UPDATE wishes SET pledged = 10.01 WHERE id = :id"), {"id": wish_id})


async def test_outbox_envelopes_built_in_sql_are_the_catalogue_events(db: Db) -> None:
    campaign_id = await new_campaign(db)
    first, second = await published(db, "80.00", campaign_id), await published(db, "30.50", campaign_id)
    async with db.uow() as uow:
        uow.correlation_id = "corr-1"
        made = await pledges.make_pledges(
            uow=uow, principal=Principal("donor-x", roles=frozenset({"donor"})),
            data=PledgeIn(items=[PledgeLineIn(wish_id=second), PledgeLineIn(wish_id=first, amount="20.00")]))
        twins = {e.id: e for e in uow.emitted}
        await uow.commit()
    assert [e.type for e in twins.values()] == [events.WISH_PLEDGED, events.WISH_PLEDGED, events.WISH_FULLY_PLEDGED]
    async with db.uow() as uow:
        rows = (await uow.session.execute(select(OutboxEvent.event_id, OutboxEvent.envelope).where(
            OutboxEvent.event_id.in_(list(twins))))).all()
    assert len(rows) == 3
    for event_id, envelope in rows:
        stored = CloudEvent.model_validate(envelope)
        assert stored == twins[event_id]
        assert stored.correlationid == "corr-1" and stored.source == "/services/wishes"
        model = events.WishPledged if stored.type == events.WISH_PLEDGED else events.WishFullyPledged
        model.model_validate(stored.data)
    pledged_first = next(e for e in twins.values() if e.type == events.WISH_PLEDGED and e.data["wish_id"] == first)
    assert pledged_first.data | {"request_id": None} == {
        "wish_id": first, "campaign_id": campaign_id, "town": TOWN, "village": VILLAGE,
        "household_id": pledged_first.data["household_id"], "family_type": "registered_poor", "category": "food",
        "cost": "80.00", "pledged": "20.00", "pledge_id": made.pledges[0].id, "amount": "20.00", "request_id": None,
    }
    assert pledged_first.subject == str(first)


async def test_two_sweepers_expire_each_pledge_once(db: Db) -> None:
    campaign_id = await new_campaign(db)
    wishes = [await published(db, "100.00", campaign_id) for _ in range(5)]
    for i in range(40):
        await pledge(db, f"donor-{i}", [(wishes[i % 5], "2.50")])
    async with db.uow() as uow:  # earlier tests' pledges fall due too
        due = await uow.session.scalar(select(func.count()).select_from(Pledge).where(Pledge.status == "active"))
        events_before = await uow.session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.event_type == events.PLEDGE_EXPIRED))
    db.clock.set(NOW + timedelta(days=30))

    async def sweep() -> int:
        async with db.uow() as uow:
            expired = await pledges.expire_due_pledges(uow=uow, limit=25)
            await uow.commit()
            return expired

    counts = list(await asyncio.gather(sweep(), sweep(), sweep()))
    while counts[-1]:
        counts.append(await sweep())
    async with db.uow() as uow:
        expired = await uow.session.scalar(select(func.count()).select_from(Pledge).where(
            Pledge.wish_id.in_(wishes), Pledge.status == "expired"))
        pledged = (await uow.session.scalars(select(Wish.pledged).where(Wish.id.in_(wishes)))).all()
        events_out = await uow.session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.event_type == events.PLEDGE_EXPIRED))
    assert sum(counts) == due and expired == 40
    assert set(pledged) == {Decimal("0.00")}
    assert events_out - events_before == due
    db.clock.set(NOW)


async def test_a_delivered_pledge_never_expires_and_completes_the_wish(db: Db) -> None:
    wish_id = await published(db, "60.00", await new_campaign(db))
    made = await pledge(db, "donor-d", [(wish_id, None)])
    async with db.uow() as uow:
        _, wish = await pledges.deliver_pledge(uow=uow, principal=Principal("donor-d", roles=frozenset({"donor"})),
                                               pledge_id=made.pledges[0].id, note=None)
        await uow.commit()
        assert wish.status == "delivered"
    db.clock.set(NOW + timedelta(days=400))
    async with db.uow() as uow:
        assert await pledges.expire_due_pledges(uow=uow) == 0
    db.clock.set(NOW)


# --- one wish on the raw connection (pledges.pledge_one, the API's hot path) ---------------------


async def pledge_one(db: Db, donor: str, wish_id: int, amount: str | None, *, known: set[str] | None = None,
                     correlation_id: str | None = None) -> pledges.PledgeOut:
    uow = db.uow()
    uow.correlation_id = correlation_id
    days = await pledges.PledgeDaysCache().get(db.uow, db.clock)
    async with db.engine.connect() as connection:
        conn = (await connection.get_raw_connection()).driver_connection
        return await pledges.pledge_one(
            conn=conn, uow=uow, principal=Principal(donor, roles=frozenset({"donor"}), name=f"{donor} 先生"),
            item=PledgeLineIn(wish_id=wish_id, amount=amount), days=days, known_donors=known)


async def test_fifty_concurrent_one_wish_statements_never_exceed_the_cost(db: Db) -> None:
    known: set[str] = set()
    for round_ in range(3):
        wish_id = await published(db, "300.00", await new_campaign(db))
        offers = [None if i % 9 == 4 else f"{(i * 7 % 23) + 5}.{i % 100:02d}" for i in range(50)]
        results = await asyncio.gather(*(pledge_one(db, f"raw-donor-{i % 7}", wish_id, offer, known=known)
                                         for i, offer in enumerate(offers)), return_exceptions=True)
        made = [r for r in results if isinstance(r, pledges.PledgeOut)]
        refused = [r for r in results if not isinstance(r, pledges.PledgeOut)]
        assert all(isinstance(r, Problem) and r.code == "over_pledged" for r in refused), refused[:3]
        for offer, result in zip(offers, results, strict=True):
            if isinstance(result, pledges.PledgeOut):
                assert offer is None or result.amount == Decimal(offer)
            else:
                assert offer is None or Decimal(result.extensions["open_amount"]) < Decimal(offer)
        total = sum((p.amount for p in made), Decimal("0"))
        async with db.uow() as uow:
            wish = await uow.session.get(Wish, wish_id)
            pledged, cost, status = wish.pledged, wish.cost, wish.status
            stored = await uow.session.scalar(select(func.sum(Pledge.amount)).where(Pledge.wish_id == wish_id))
            outbox = await uow.session.scalar(select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.event_type == events.WISH_PLEDGED, OutboxEvent.envelope["subject"].astext == str(wish_id)))
        assert pledged == total == (stored or Decimal("0")) <= cost, f"round {round_}"
        assert outbox == len(made)
        assert status == ("fully_pledged" if total == cost else "published")


async def test_the_one_wish_statement_stores_the_catalogue_events_and_a_new_donor(db: Db) -> None:
    wish_id = await published(db, "45.50", await new_campaign(db))
    donor = f"new-donor-{uuid.uuid4().hex[:8]}"
    first = await pledge_one(db, donor, wish_id, "20.00", known=set(), correlation_id="corr-raw")
    rest = await pledge_one(db, donor, wish_id, None, known={donor})
    assert (first.amount, rest.amount, first.pledge_days) == (Decimal("20.00"), Decimal("25.50"), 30)
    assert first.expires_at == NOW + timedelta(days=30) and first.village == VILLAGE and first.status == "active"
    with pytest.raises(Problem) as closed:
        await pledge_one(db, donor, wish_id, "1.00", known={donor})
    assert closed.value.code == "wish_not_open" or closed.value.code == "over_pledged"
    with pytest.raises(Problem) as missing:
        await pledge_one(db, donor, 10**12, "1.00")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    async with db.uow() as uow:
        profile = await uow.session.get(pledges.Donor, donor)
        assert profile is not None and (profile.display_name, profile.kind) == (f"{donor} 先生", "person")
        rows = (await uow.session.execute(select(OutboxEvent.envelope).where(
            OutboxEvent.envelope["subject"].astext == str(wish_id)).order_by(OutboxEvent.seq))).scalars().all()
    envelopes = [CloudEvent.model_validate(e) for e in rows]
    # In the outbox's order: the pledge that completes the wish comes before the wish's completion.
    assert [e.type for e in envelopes] == [events.WISH_PUBLISHED, events.WISH_PLEDGED, events.WISH_PLEDGED,
                                           events.WISH_FULLY_PLEDGED]
    pledged = envelopes[1]
    assert pledged.correlationid == "corr-raw" and pledged.source == "/services/wishes" and pledged.time == NOW
    assert events.WishPledged.model_validate(pledged.data).model_dump(mode="json") | {"household_id": None} == {
        "wish_id": wish_id, "campaign_id": pledged.data["campaign_id"], "town": TOWN, "village": VILLAGE,
        "household_id": None, "family_type": "registered_poor", "category": "food", "cost": "45.50",
        "pledged": "20.00", "pledge_id": first.id, "amount": "20.00", "request_id": str(first.request_id),
    }
    assert envelopes[3].correlationid is None and "correlationid" not in rows[3]
    events.WishFullyPledged.model_validate(envelopes[3].data)
    assert envelopes[3].data["pledged"] == "45.50"


async def test_publish_refuses_personal_data_in_full_width_or_chinese_numerals(db: Db) -> None:
    """H1 (R-MW-2): a wish whose stored text holds a phone or ID number in full-width digits or
    Chinese numerals (e.g. stored before the screen knew them) is not published: 409
    ``personal_data``, and it stays submitted."""
    campaign_id = await new_campaign(db)
    for hidden in ("户主电话１３８１２３４５６７８", "身份证３５０５２１１９８６０９０５００１２", "一三八一二三四五六七八"):
        wish_id = await enter(db, await family(db), campaign_id=campaign_id)
        async with db.uow() as uow:  # what the officer's text was before the screen caught it
            await uow.session.execute(text("UPDATE wishes SET description = :d WHERE id = :i"), {"d": hidden, "i": wish_id})
            await uow.commit()
        with pytest.raises(Problem) as refused:
            async with db.uow() as uow:
                await campaigns.publish_wish(uow=uow, principal=REVIEWER, wish_id=wish_id)
                await uow.commit()
        assert (refused.value.status, refused.value.code) == (409, "personal_data")
        async with db.uow() as uow:
            assert (await uow.session.get(Wish, wish_id)).status == "submitted"
