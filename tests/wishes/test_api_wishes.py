"""The wishes service end to end, through the gateway: every acceptance case of wishes.json, the
pledge race (50 concurrent pledges on one wish, 20 times), the public board's privacy, bad input,
fulfilment and expiry, town scoping, idempotency, calculators, parameters and 阳光1+1 pairings.

Families are registered through the eligibility API and reach this service as eligibility's
events (conftest.py); the projection's finer cases (benefits, late events) are in test_handlers.py.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.wishes import rules
from shared import regions
from tests.conftest import load_cases
from tests.wishes.conftest import START, WishWorld, village_codes

CASES = load_cases("wishes.json")
# H1 (R-MW-2): personal data written so that an ASCII pattern misses it.
HIDDEN_PERSONAL_DATA = ("电话１３８１２３４５６７８", "身份证号35052119860905001２", "一三八一二三四五六七八",
                        "３５０５２１１９８６０９０５００１２", "户主电话１３８１２３４５６７８ 身份证３５０５２１１９８６０９０５００１２",
                        # markup, character references and 十 for "10" (R-MW-2)
                        "电话138<br>1234<b>5678</b>", "电话138&nbsp;1234&#53;678", "电话一三八十二三四五六七",
                        "身份证350521<span>19860905</span>001X", "电话1\u200b3\u00ad8 - 1234 - 56\u20607\ufeff8",
                        # brackets, hidden elements, quoted ">", non-Cf invisibles and 十 as a teen (R-MW-2)
                        "电话 <138>12345678", "电话 &lt;138&gt;12345678", "1<script>x</script>3812345678",
                        "1<b title='a>b'>3</b>812345678", "1< b >3812345678", "1\u034f3812345678",
                        "1\u3164 3812345678", "手机一三八一二三四五六十一", "电话一三五十二三四五六七八")
D = Decimal
TOWN_A = village_codes(1)  # 南埔镇 350505100: every village used here (quota 5 per campaign) is in it


async def board_wish(world: WishWorld, wish_id: int) -> dict[str, Any]:
    response = await world.public.get(f"/api/v1/wishes/board/{wish_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.2)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return body


# --- acceptance cases (wishes.json) ----------------------------------------------------------


async def case_sixth_wish_of_a_village(world: WishWorld, set_clock: Any) -> None:
    """R-MW-1: a village submits its 6th wish in the campaign → refused: village_quota."""
    village = TOWN_A[0]
    families = [await world.family(village) for _ in range(6)]
    for family in families[:5]:
        response = await world.enter(family)
        assert response.status_code == 201, response.text
    refused = assert_problem(await world.enter(families[5]), 409, "village_quota")
    assert (refused["village_quota"], refused["wishes_in_village"]) == (5, 5)
    officer = await world.officer(village)
    listed = (await officer.get(f"/api/v1/wishes/campaigns/{world.campaign_id}/wishes")).json()["items"]
    assert sorted(w["household_id"] for w in listed) == sorted(f.household_id for f in families[:5])
    # A wish the town rejects gives its slot back: the sixth family now gets in.
    reviewer = await world.reviewer(families[0].town)
    rejected = await reviewer.post(f"/api/v1/wishes/wishes/{listed[0]['id']}:reject", json={"reason": "重复申报"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    assert (await world.enter(families[5])).status_code == 201


async def case_two_donors_race_for_the_last_50(world: WishWorld, set_clock: Any) -> None:
    """R-MW-3: wish of 200.00; A pledges 150.00; B and C each 50.00 at the same moment → exactly
    one of B and C succeeds, the other is refused (over_pledged); pledged total 200.00."""
    wish = await world.published_wish(TOWN_A[1], cost="200.00")
    (_, a), (_, b), (_, c) = await world.donor_pool(3)
    first = await a.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish["id"], "amount": "150.00"}]})
    assert first.status_code == 201, first.text
    assert first.json()["total"] == "150.00"
    body = {"items": [{"wish_id": wish["id"], "amount": "50.00"}]}
    results = await asyncio.gather(b.post("/api/v1/wishes/pledges", json=body),
                                   c.post("/api/v1/wishes/pledges", json=body))
    assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
    refused = assert_problem(next(r for r in results if r.status_code == 409), 409, "over_pledged")
    assert refused["open_amount"] == "0.00"
    on_board = await board_wish(world, wish["id"])
    assert (on_board["pledged"], on_board["open_amount"], on_board["status"]) == ("200.00", "0.00", "fully_pledged")


async def case_one_donor_three_wishes(world: WishWorld, set_clock: Any) -> None:
    """R-MW-3: one donor pledges the full cost of three wishes in one request → three wishes
    fully pledged by that donor."""
    wishes = [await world.published_wish(TOWN_A[1], cost=cost, title=title, category=category)
              for cost, title, category in [("120.00", "一个书包和文具", "study"), ("88.50", "冬被一床", "daily_necessities"),
                                            ("356.00", "一台电风扇", "appliance")]]
    subject, donor = (await world.donor_pool(4))[3]
    response = await donor.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": w["id"]} for w in wishes]})
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["total"] == "564.50" and made["donor"] == subject
    assert sorted((p["wish_id"], p["amount"], p["status"]) for p in made["pledges"]) == sorted(
        (w["id"], w["cost"], "active") for w in wishes)
    for wish in wishes:
        on_board = await board_wish(world, wish["id"])
        assert (on_board["status"], on_board["pledged"]) == ("fully_pledged", wish["cost"])
    for wish in wishes:
        mine = (await donor.get("/api/v1/wishes/pledges", params={"wish_id": wish["id"]})).json()["items"]
        assert [(p["donor"], p["amount"], p["status"]) for p in mine] == [(subject, wish["cost"], "active")]


PERSONAL_KEYS = {"name", "full_name", "id_number", "phone", "mobile", "telephone", "address", "household_id",
                 "person_id", "members"}


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


async def case_board_holds_no_personal_data(world: WishWorld, set_clock: Any) -> None:
    """R-MW-2: the public board lists a published wish → no name, ID number, phone or address
    anywhere in the response."""
    village = TOWN_A[1]
    child = world.person("child", child=True, orphan="dispersed")
    family = await world.family(village, members=(child,))
    # A wish whose text carries a phone or an address is refused at entry, nothing stored.
    for text in ("请联系13812345678", f"送到{family.address}", f"身份证{family.id_number}"):
        assert_problem(await world.enter(family, description=text), 422, "personal_data")
    entered = await world.enter(family, title="一辆儿童自行车", category="other", cost="399.00")
    assert entered.status_code == 201, entered.text
    reviewer = await world.reviewer(family.town)
    assert (await reviewer.post(f"/api/v1/wishes/wishes/{entered.json()['id']}:publish")).status_code == 200

    public = world.public  # no token at all
    response = await public.get("/api/v1/wishes/board", params={"town": family.town, "limit": 500})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    ours = next(i for i in items if i["id"] == entered.json()["id"])
    assert set(ours) == set(rules.BOARD_FIELDS)
    assert (ours["village"], ours["village_name"], ours["family_type"], ours["title"], ours["cost"]) == (
        village, regions.village(village).name, "registered_poor", "一辆儿童自行车", "399.00")
    text = response.text
    for secret in (family.name, family.id_number, child["name"], child["id_number"], family.household_id,
                   family.address, "13812345678"):
        assert secret not in text
    assert not keys_anywhere(response.json()) & PERSONAL_KEYS
    # Every wish on the board, whatever its village: nothing that even looks like an ID number,
    # a phone number or an address anywhere in the response.
    everything = await public.get("/api/v1/wishes/board", params={"limit": 500})
    assert everything.json()["items"] and rules.personal_data_findings(everything.text) == []
    assert not keys_anywhere(everything.json()) & PERSONAL_KEYS
    detail = await public.get(f"/api/v1/wishes/board/{ours['id']}")
    assert detail.status_code == 200 and set(detail.json()) == set(rules.BOARD_FIELDS)
    assert family.name not in detail.text and family.household_id not in detail.text


async def case_pledge_expires_after_30_days(world: WishWorld, set_clock: Any) -> None:
    """R-MW-4: a pledge unfulfilled 30 days after it was made → the pledge expires and its
    amount returns to the wish."""
    await set_clock(START)
    wish = await world.published_wish(TOWN_A[2], cost="200.00", title="助听器一副", category="medical_aid")
    donors = await world.donor_pool(6)
    (_, keeper), (_, forgetful), (_, another) = donors[4], donors[5], donors[0]
    kept = await keeper.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish["id"], "amount": "120.00"}]})
    lapsed = await forgetful.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish["id"]}]})
    assert kept.status_code == 201 and lapsed.status_code == 201, lapsed.text
    lapsed_pledge = lapsed.json()["pledges"][0]
    assert lapsed_pledge["amount"] == "80.00"
    assert lapsed_pledge["expires_at"] == "2020-07-15T09:00:00+08:00"
    assert (await board_wish(world, wish["id"]))["status"] == "fully_pledged"
    delivered = await keeper.post(f"/api/v1/wishes/pledges/{kept.json()['pledges'][0]['id']}:deliver",
                                  json={"note": "已送到村委会"})
    assert delivered.status_code == 200 and delivered.json()["status"] == "delivered", delivered.text

    await set_clock("2020-07-15T08:59:59+08:00")  # one second early: nothing happens
    await asyncio.sleep(2.5)
    assert (await forgetful.get(f"/api/v1/wishes/pledges/{lapsed_pledge['id']}")).json()["status"] == "active"

    await set_clock("2020-07-15T09:00:00+08:00")

    async def expired() -> bool:
        pledge = (await forgetful.get(f"/api/v1/wishes/pledges/{lapsed_pledge['id']}")).json()
        return pledge["status"] == "expired"

    await wait_until(expired)
    pledge = (await forgetful.get(f"/api/v1/wishes/pledges/{lapsed_pledge['id']}")).json()
    assert pledge["expired_at"] == "2020-07-15T09:00:00+08:00"
    on_board = await board_wish(world, wish["id"])
    assert (on_board["pledged"], on_board["open_amount"], on_board["status"]) == ("120.00", "80.00", "published")
    # The delivered pledge did not expire; the amount is open again for someone else.
    assert (await keeper.get(f"/api/v1/wishes/pledges/{kept.json()['pledges'][0]['id']}")).json()["status"] == "delivered"
    again = await another.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish["id"], "amount": "80.00"}]})
    assert again.status_code == 201, again.text
    await set_clock(START)


SCENARIOS: dict[str, Callable[..., Awaitable[None]]] = {
    "a village submits its 6th wish in the campaign": case_sixth_wish_of_a_village,
    "wish of 200.00; donor A pledges 150.00; donors B and C each pledge 50.00 at the same moment":
        case_two_donors_race_for_the_last_50,
    "one donor pledges the full cost of three wishes in one request": case_one_donor_three_wishes,
    "the public board lists a published wish": case_board_holds_no_personal_data,
    "a pledge unfulfilled 30 days after it was made": case_pledge_expires_after_30_days,
}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['rule']}:{c['scenario'][:40]}" for c in CASES])
async def test_acceptance_case(case: dict, world: WishWorld, set_clock) -> None:
    scenario = SCENARIOS.get(case["scenario"])
    assert scenario is not None, f"no test implements the case {case}"
    await scenario(world, set_clock)


# --- R-MW-3 under concurrency ------------------------------------------------------------------


async def test_fifty_concurrent_pledges_never_exceed_the_cost_twenty_times(world: WishWorld) -> None:
    """50 pledges at once on one wish, 20 rounds: the pledged total never exceeds the cost, every
    refusal is over_pledged with the amount then open, and the accepted pledges add up exactly."""
    rng = random.Random(7)
    village = TOWN_A[4]  # five wishes in each of four campaigns of its own
    await world.officer(village)
    reviewer = await world.reviewer(regions.town_of_village(village).code)
    campaigns = [await world.campaign() for _ in range(4)]
    wishes = await asyncio.gather(*(
        world.published_wish(village, cost=f"{rng.randint(100, 900)}.{rng.randint(0, 99):02d}",
                             title="米面油一份", category="food", campaign_id=campaigns[i // 5])
        for i in range(20)
    ))
    donors = await world.donor_pool(6)
    rounds_at_once = asyncio.Semaphore(2)  # two wishes raced at a time, each by 50 pledges at once

    async def race(round_: int, wish: dict[str, Any]) -> None:
        cost = D(wish["cost"])
        offers: list[Decimal | None] = [
            None if i % 10 == 9 else D(rng.randint(100, int(cost * 100) // 6 + 100)) / 100 for i in range(50)]
        async with rounds_at_once:
            responses = await asyncio.gather(*(
                donors[i % len(donors)][1].post("/api/v1/wishes/pledges", json={
                    "items": [{"wish_id": wish["id"]} | ({"amount": f"{offer:.2f}"} if offer is not None else {})]})
                for i, offer in enumerate(offers)
            ))
        accepted = D("0.00")
        for offer, response in zip(offers, responses, strict=True):
            assert response.status_code in (201, 409), f"round {round_}: {response.status_code} {response.text}"
            if response.status_code == 201:
                amount = D(response.json()["pledges"][0]["amount"])
                assert offer is None or amount == offer
                accepted += amount
            else:
                refused = assert_problem(response, 409, "over_pledged")
                assert offer is None or D(refused["open_amount"]) < offer
        staff_view = (await reviewer.get(f"/api/v1/wishes/wishes/{wish['id']}")).json()
        assert D(staff_view["pledged"]) == accepted <= cost, f"round {round_}"
        pledges = (await reviewer.get("/api/v1/wishes/pledges", params={"wish_id": wish["id"], "limit": 500})).json()
        assert sum(D(p["amount"]) for p in pledges["items"]) == accepted
        assert len(pledges["items"]) == sum(r.status_code == 201 for r in responses)
        assert staff_view["status"] == ("fully_pledged" if accepted == cost else "published")

    await asyncio.gather(*(race(round_, wish) for round_, wish in enumerate(wishes)))


# --- bad input: 4xx problem+json, nothing stored ------------------------------------------------


async def test_bad_pledges_are_refused_and_store_nothing(world: WishWorld) -> None:
    village = TOWN_A[2]
    open_wish = await world.published_wish(village, cost="100.00", title="保暖内衣两套", category="clothing")
    family = await world.family(village)
    submitted = await world.enter(family, cost="60.00", title="台灯一盏", category="study")
    assert submitted.status_code == 201
    _, donor = (await world.donor_pool(2))[1]

    async def pledge(items: Any) -> httpx.Response:
        return await donor.post("/api/v1/wishes/pledges", json={"items": items})

    assert_problem(await pledge([{"wish_id": open_wish["id"], "amount": "-5.00"}]), 422, "negative")
    assert_problem(await pledge([{"wish_id": open_wish["id"], "amount": "0"}]), 422, "not_positive")
    assert_problem(await pledge([{"wish_id": open_wish["id"], "amount": "0.005"}]), 422, "sub_fen")
    assert_problem(await pledge([{"wish_id": open_wish["id"], "amount": "ten"}]), 422, "not_a_number")
    assert_problem(await pledge([{"wish_id": open_wish["id"]}, {"wish_id": open_wish["id"]}]), 422, "duplicate_wish")
    assert_problem(await pledge([]), 422, "too_short")
    unpublished = assert_problem(await pledge([{"wish_id": submitted.json()["id"], "amount": "10.00"}]), 404, "not_found")
    assert unpublished["wish_id"] == submitted.json()["id"]
    assert_problem(await pledge([{"wish_id": 10**12, "amount": "10.00"}]), 404, "not_found")
    # All or nothing: the first wish would take 30.00, the second refuses 50.01 → neither is pledged.
    other = await world.published_wish(village, cost="50.00", title="电饭煲", category="appliance")
    atomic = assert_problem(await pledge([{"wish_id": open_wish["id"], "amount": "30.00"},
                                          {"wish_id": other["id"], "amount": "50.01"}]), 409, "over_pledged")
    assert (atomic["wish_id"], atomic["open_amount"]) == (other["id"], "50.00")
    malformed = await donor.post("/api/v1/wishes/pledges", content=b'{"items": [', headers={"content-type": "application/json"})
    assert_problem(malformed, 400, "malformed_json")
    # Not a donor: a village officer cannot pledge.
    officer = await world.officer(village)
    assert_problem(await officer.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": open_wish["id"]}]}),
                   403, "forbidden")
    assert_problem(await world.public.post("/api/v1/wishes/pledges", json={"items": []}), 401, "unauthorized")

    for wish in (open_wish, other):
        assert (await board_wish(world, wish["id"]))["pledged"] == "0.00"
        assert (await donor.get("/api/v1/wishes/pledges", params={"wish_id": wish["id"]})).json()["items"] == []
    assert (await donor.get("/api/v1/wishes/pledges", params={"wish_id": submitted.json()["id"]})).json()["items"] == []


async def test_bad_wishes_are_refused_and_store_nothing(world: WishWorld) -> None:
    village = TOWN_A[3]
    family = await world.family(village)
    officer = await world.officer(village)
    url = f"/api/v1/wishes/campaigns/{world.campaign_id}/wishes"
    base = {"household_id": family.household_id, "category": "food", "title": "大米一袋", "cost": "80.00"}
    assert_problem(await officer.post(url, json=base | {"cost": "0"}), 422, "not_positive")
    assert_problem(await officer.post(url, json=base | {"cost": "12.345"}), 422, "sub_fen")
    assert_problem(await officer.post(url, json=base | {"category": "cars"}), 422, "literal_error")
    assert_problem(await officer.post(url, json=base | {"title": "电话0595-87654321"}), 422, "personal_data")
    # H1: full-width digits, Chinese numerals and separators do not hide a phone or ID number.
    for hidden in HIDDEN_PERSONAL_DATA:
        assert_problem(await officer.post(url, json=base | {"description": hidden}), 422, "personal_data")
    assert_problem(await officer.post(url, json=base | {"household_id": str(uuid.uuid4())}), 404, "not_found")
    ineligible = await world.family(village, registered_poor=False)
    refused = assert_problem(await officer.post(url, json=base | {"household_id": ineligible.household_id}),
                             422, "not_eligible")
    assert "R-MW-1" in refused["detail"]
    # Another village's officer does not see this family at all.
    stranger = await world.officer(TOWN_A[4])
    assert_problem(await stranger.post(url, json=base), 404, "not_found")
    listed = (await officer.get(url, params={"limit": 500})).json()["items"]
    assert family.household_id not in {w["household_id"] for w in listed}
    assert (await officer.post(url, json=base)).status_code == 201
    assert_problem(await officer.post(url, json=base | {"title": "再来一个"}), 409, "household_has_wish")


# --- fulfilment (R-MW-4) -----------------------------------------------------------------------


async def test_fulfilment_delivered_confirmed_closed(world: WishWorld) -> None:
    village = TOWN_A[3]
    wish = await world.published_wish(village, cost="300.00", title="一台洗衣机", category="appliance")
    (a_subject, a), (_, b) = (await world.donor_pool(4))[2:4]
    pa = (await a.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish["id"], "amount": "100.00"}]})).json()
    pb = (await b.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish["id"]}]})).json()
    pledge_a, pledge_b = pa["pledges"][0], pb["pledges"][0]
    assert pledge_b["amount"] == "200.00"
    # A donor sees their own pledges only.
    assert_problem(await a.get(f"/api/v1/wishes/pledges/{pledge_b['id']}"), 404, "not_found")
    assert_problem(await a.post(f"/api/v1/wishes/pledges/{pledge_b['id']}:deliver"), 404, "not_found")
    officer = await world.officer(village)
    reviewer = await world.reviewer(regions.town_of_village(village).code)
    assert_problem(await officer.post(f"/api/v1/wishes/wishes/{wish['id']}:confirm", json={"confirmed_by": "family"}),
                   409, "invalid_status")

    assert (await a.post(f"/api/v1/wishes/pledges/{pledge_a['id']}:deliver")).json()["status"] == "delivered"
    assert (await board_wish(world, wish["id"]))["status"] == "fully_pledged"  # B's part is not there yet
    recorded = await officer.post(f"/api/v1/wishes/pledges/{pledge_b['id']}:deliver", json={"note": "村委会代收"})
    assert recorded.status_code == 200, recorded.text
    assert (await board_wish(world, wish["id"]))["status"] == "delivered"
    assert_problem(await a.post(f"/api/v1/wishes/pledges/{pledge_a['id']}:deliver"), 409, "invalid_status")

    confirmed = await officer.post(f"/api/v1/wishes/wishes/{wish['id']}:confirm",
                                   json={"confirmed_by": "family", "note": "已收到，谢谢"})
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["confirmed_by"]) == ("confirmed", "family")
    mine = (await a.get("/api/v1/wishes/pledges", params={"wish_id": wish["id"]})).json()["items"]
    assert [(p["id"], p["status"], p["donor"]) for p in mine] == [(pledge_a["id"], "fulfilled", a_subject)]
    assert mine[0]["fulfilled_at"] == "2020-06-15T09:00:00+08:00"
    assert_problem(await officer.post(f"/api/v1/wishes/wishes/{wish['id']}:close"), 403, "forbidden")
    closed = await reviewer.post(f"/api/v1/wishes/wishes/{wish['id']}:close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert (await board_wish(world, wish["id"]))["status"] == "closed"


# --- scoping, idempotency, progress ------------------------------------------------------------


async def test_town_and_village_scoping(world: WishWorld) -> None:
    village = TOWN_A[3]
    family = await world.family(village)
    entered = (await world.enter(family, title="老人手杖", category="medical_aid", cost="45.00")).json()
    other_town = await world.reviewer(regions.TOWNS[4].code)
    assert_problem(await other_town.post(f"/api/v1/wishes/wishes/{entered['id']}:publish"), 404, "not_found")
    assert_problem(await other_town.get(f"/api/v1/wishes/wishes/{entered['id']}"), 404, "not_found")
    other_village = await world.officer(TOWN_A[4])
    assert_problem(await other_village.get(f"/api/v1/wishes/wishes/{entered['id']}"), 404, "not_found")
    assert_problem(await other_town.get(f"/api/v1/wishes/families/{family.household_id}"), 404, "not_found")
    listed = (await other_town.get(f"/api/v1/wishes/campaigns/{world.campaign_id}/wishes")).json()["items"]
    assert entered["id"] not in {w["id"] for w in listed}
    _, donor = (await world.donor_pool(5))[4]
    assert_problem(await donor.post(f"/api/v1/wishes/wishes/{entered['id']}:publish"), 403, "forbidden")
    assert_problem(await world.api.post(f"/api/v1/wishes/wishes/{entered['id']}:publish"), 403, "forbidden")
    own = await world.reviewer(family.town)
    assert (await own.get(f"/api/v1/wishes/wishes/{entered['id']}")).json()["status"] == "submitted"
    assert (await world.public.get(f"/api/v1/wishes/board/{entered['id']}")).status_code == 404


async def test_idempotency_key_replays_the_first_pledge(world: WishWorld) -> None:
    wish = await world.published_wish(TOWN_A[3], cost="90.00", title="学生书桌", category="study")
    _, donor = (await world.donor_pool(6))[5]
    key = {"Idempotency-Key": f"pledge-{uuid.uuid4()}"}
    body = {"items": [{"wish_id": wish["id"], "amount": "40.00"}]}
    # Twenty at once with one key: serialized on the key, all answered 201 with the first body.
    answers = await asyncio.gather(*(donor.post("/api/v1/wishes/pledges", json=body, headers=key) for _ in range(20)))
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
    assert all(a.json() == answers[0].json() for a in answers)
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19
    assert_problem(await donor.post("/api/v1/wishes/pledges", json={"items": [{"wish_id": wish["id"], "amount": "1.00"}]},
                                    headers=key), 422, "idempotency_key_reused")
    assert (await board_wish(world, wish["id"]))["pledged"] == "40.00"
    assert len((await donor.get("/api/v1/wishes/pledges", params={"wish_id": wish["id"]})).json()["items"]) == 1


async def test_board_filters_pagination_and_progress(world: WishWorld) -> None:
    public = world.public
    town = regions.TOWNS[1].code
    page1 = await public.get("/api/v1/wishes/board", params={"town": town, "limit": 2, "campaign_id": world.campaign_id})
    assert page1.status_code == 200
    assert len(page1.json()["items"]) == 2 and page1.json()["next_cursor"]
    page2 = await public.get("/api/v1/wishes/board", params={"town": town, "limit": 2, "cursor": page1.json()["next_cursor"],
                                                               "campaign_id": world.campaign_id})
    assert {w["id"] for w in page1.json()["items"]}.isdisjoint({w["id"] for w in page2.json()["items"]})
    assert all(w["town"] == town for w in page1.json()["items"] + page2.json()["items"])
    study = (await public.get("/api/v1/wishes/board", params={"category": "study", "limit": 500})).json()["items"]
    assert study and all(w["category"] == "study" for w in study)
    full = (await public.get("/api/v1/wishes/board", params={"status": "fully_pledged", "limit": 500})).json()["items"]
    assert full and all(w["status"] == "fully_pledged" and w["open_amount"] == "0.00" for w in full)
    assert_problem(await public.get("/api/v1/wishes/board", params={"status": "submitted"}), 422, "invalid_status_filter")
    assert_problem(await public.get("/api/v1/wishes/board", params={"town": "999999999"}), 422, "unknown_town")

    everything = (await public.get("/api/v1/wishes/board", params={"campaign_id": world.campaign_id, "limit": 500})).json()
    progress = await public.get("/api/v1/wishes/board/progress", params={"campaign_id": world.campaign_id})
    assert progress.status_code == 200, progress.text
    data = progress.json()
    assert (data["village_quota"], data["total"]["target"]) == (5, 505)
    assert sum(t["target"] for t in data["towns"]) == 505 and len(data["towns"]) == 7
    items = everything["items"]
    assert data["total"]["published"] == len(items)
    assert data["total"]["adopted"] == sum(w["status"] != "published" for w in items)
    assert data["total"]["fulfilled"] == sum(w["status"] in ("confirmed", "closed") for w in items)
    assert D(data["total"]["pledged"]) == sum(D(w["pledged"]) for w in items)
    nanpu = next(t for t in data["towns"] if t["town"] == town)
    assert (nanpu["villages"], nanpu["target"]) == (15, 75)
    assert nanpu["published"] == sum(w["town"] == town for w in items)


# --- eligibility projection (the registry's events) ------------------------------------------------


async def test_family_types_follow_the_eligibility_registry(world: WishWorld) -> None:
    """R-MW-1 through the real chain: households registered (and changed) in eligibility reach
    this service by event; their flags decide whether and as what they may have a wish."""
    village = TOWN_A[3]
    elderly = await world.family(village, registered_poor=False, lonely_elderly=True)
    assert (elderly.projected["eligible"], elderly.projected["family_type_label"]) == (True, "孤寡老人")
    both = await world.family(village, registered_poor=True, lonely_elderly=True)
    assert both.projected["family_types"] == ["registered_poor", "lonely_elderly"]
    child = await world.family(village, registered_poor=False,
                               members=(world.person("grandchild", child=True, child_without_care=True),))
    assert child.projected["family_type"] == "child_in_difficulty"
    entered = await world.enter(child, title="书包和校服", category="study", cost="260.00")
    assert entered.status_code == 201, entered.text
    assert (entered.json()["family_type"], entered.json()["family_type_label"]) == ("child_in_difficulty", "困境儿童")

    # The registry no longer counts the elderly household as lonely: the change reaches us.
    patched = await world.api.patch(f"/api/v1/eligibility/households/{elderly.household_id}",
                                    json={"lonely_elderly": False})
    assert patched.status_code == 200, patched.text
    reviewer = await world.reviewer(elderly.town)

    async def ineligible() -> bool:
        return not (await reviewer.get(f"/api/v1/wishes/families/{elderly.household_id}")).json()["eligible"]

    await wait_until(ineligible)
    assert_problem(await world.enter(elderly), 422, "not_eligible")


# --- calculators and parameters -----------------------------------------------------------------


async def test_calculators(world: WishWorld) -> None:
    api = world.api
    collection = await api.post("/api/v1/wishes/collection:evaluate", json={
        "registered_poor": True, "wishes_in_village": 5, "on": "2020-06-15"})
    assert collection.status_code == 200, collection.text
    body = collection.json()
    assert (body["accepted"], body["code"], body["village_quota"], body["campaign_target"]) == (False, "village_quota", 5, 505)
    assert body["trace"]["rules"] == ["R-MW-1"]
    assert body["trace"]["parameters"][0]["name"] == "village_quota"
    assert body["trace"]["parameters"][0]["value"] == "5"
    ok = (await api.post("/api/v1/wishes/collection:evaluate", json={"tekun": True, "dibao": True})).json()
    assert (ok["accepted"], ok["family_type"], ok["remaining_in_village"]) == (True, "tekun", 4)

    race = (await api.post("/api/v1/wishes/pledges:evaluate", json={"cost": "200.00", "pledged": "150.00",
                                                                       "amount": "50.00"})).json()
    assert (race["accepted"], race["pledged_after"], race["open_amount"], race["fully_pledged"]) == (
        True, "200.00", "0.00", True)
    late = (await api.post("/api/v1/wishes/pledges:evaluate", json={"cost": "200.00", "pledged": "200.00",
                                                                       "amount": "50.00", "status": "fully_pledged"})).json()
    assert (late["accepted"], late["code"], late["open_amount"]) == (False, "over_pledged", "0.00")
    assert_problem(await api.post("/api/v1/wishes/pledges:evaluate", json={"cost": "200.00", "amount": "0.001"}),
                   422, "sub_fen")

    expiry = (await api.post("/api/v1/wishes/pledge-expiry:evaluate", json={
        "pledged_at": "2020-06-15T09:00:00+08:00", "as_of": "2020-07-15T09:00:00+08:00"})).json()
    assert (expiry["expires_at"], expiry["expired"], expiry["pledge_days"]) == ("2020-07-15T09:00:00+08:00", True, 30)
    assert expiry["trace"]["parameters"][0]["name"] == "pledge_days"

    publication = (await api.post("/api/v1/wishes/publication:evaluate", json={
        "title": "轮椅一辆", "description": "联系电话13812345678"})).json()
    assert publication["publishable"] is False
    assert [(f["field"], f["kind"]) for f in publication["findings"]] == [("description", "phone")]
    for hidden in HIDDEN_PERSONAL_DATA:
        found = (await api.post("/api/v1/wishes/publication:evaluate", json={"title": "书包", "description": hidden})).json()
        assert found["publishable"] is False and found["findings"], hidden
    for ordinary in ("书包2个", "价格120元", "三年级", "书包2个，价格120元，三年级学生用", "十斤大米", "五十元",
                     "2026年11月30日前送到", "<p>书包2个</p>", "双十一", "一百二十元", "二〇二六年十一月三十日"):
        fine = (await api.post("/api/v1/wishes/publication:evaluate", json={"title": "书包", "description": ordinary})).json()
        assert (fine["publishable"], fine["findings"]) == (True, []), ordinary
    assert_problem(await world.public.post("/api/v1/wishes/pledges:evaluate", json={"cost": "1"}), 401, "unauthorized")


async def test_parameters_are_versioned(world: WishWorld) -> None:
    api = world.api
    listed = (await api.get("/api/v1/wishes/parameters")).json()
    assert {(p["name"], p["value"], p["valid_from"]) for p in listed} >= {
        ("village_quota", "5", "2020-01-01"), ("pledge_days", "30", "2020-01-01")}
    _, donor = (await world.donor_pool(1))[0]
    assert (await donor.get("/api/v1/wishes/parameters")).status_code == 200
    assert_problem(await donor.post("/api/v1/wishes/parameters", json={
        "name": "pledge_days", "value": "45", "valid_from": "2031-01-01"}), 403, "forbidden")
    added = await api.post("/api/v1/wishes/parameters", json={"name": "pledge_days", "value": "45", "valid_from": "2031-01-01"})
    assert added.status_code == 201, added.text
    versions = (await api.get("/api/v1/wishes/parameters", params={"name": "pledge_days"})).json()
    assert [(v["value"], v["valid_from"], v["valid_to"]) for v in versions][-2:] == [
        ("30", "2020-01-01", "2030-12-31"), ("45", "2031-01-01", None)]
    expiry = (await api.post("/api/v1/wishes/pledge-expiry:evaluate", json={"pledged_at": "2031-03-01T10:00:00+08:00"})).json()
    assert (expiry["pledge_days"], expiry["expires_at"]) == (45, "2031-04-15T10:00:00+08:00")
    assert_problem(await api.post("/api/v1/wishes/parameters", json={"name": "pledge_days", "value": "0",
                                                                      "valid_from": "2032-01-01"}), 422, "invalid_parameter_value")
    assert_problem(await api.post("/api/v1/wishes/parameters", json={"name": "pledge_days", "value": "20",
                                                                      "valid_from": "2025-01-01"}), 409, "parameter_overlap")
    assert_problem(await api.post("/api/v1/wishes/parameters", json={"name": "nope", "value": "1",
                                                                      "valid_from": "2032-01-01"}), 404, "unknown_parameter")


# --- 阳光1+1 (R-OA-2) -----------------------------------------------------------------------------


async def test_sunshine_pairings(world: WishWorld) -> None:
    api = world.api
    village, plain_village = TOWN_A[5], TOWN_A[6]
    designated = await api.put(f"/api/v1/wishes/old-area-villages/{village}", json={"note": "老区基点村"})
    assert designated.status_code == 200, designated.text
    assert designated.json()["village_name"] == regions.village(village).name
    assert_problem(await api.put("/api/v1/wishes/old-area-villages/350505999999", json={}), 422, "unknown_village")
    first17 = "51350505MJD" + uuid.uuid4().hex[:6].upper()  # hex digits are all in the code's alphabet
    code = first17 + rules.credit_code_check_character(first17)
    org = await api.post("/api/v1/wishes/organizations", json={"name": "泉港区阳光志愿者协会", "credit_code": code})
    assert org.status_code == 201, org.text
    assert_problem(await api.post("/api/v1/wishes/organizations", json={"name": "重复", "credit_code": code}),
                   409, "duplicate_credit_code")
    assert_problem(await api.post("/api/v1/wishes/organizations", json={"name": "错码", "credit_code": code[:17] + (
        "0" if code[17] != "0" else "1")}), 422, "credit_code")
    org_id = org.json()["id"]
    assert_problem(await api.post("/api/v1/wishes/pairings", json={
        "organization_id": org_id, "village": plain_village, "started_on": "2020-06-15"}), 409, "not_old_area_village")

    town = regions.town_of_village(village).code
    reviewer = await world.reviewer(town)
    pairing = await reviewer.post("/api/v1/wishes/pairings", json={
        "organization_id": org_id, "village": village, "started_on": "2020-06-15"})
    assert pairing.status_code == 201, pairing.text
    pairing_id = pairing.json()["id"]
    assert (pairing.json()["status"], pairing.json()["organization_name"]) == ("active", "泉港区阳光志愿者协会")
    assert_problem(await api.post("/api/v1/wishes/pairings", json={
        "organization_id": org_id, "village": village, "started_on": "2020-07-01"}), 409, "already_paired")
    other_town = await world.reviewer(regions.TOWNS[4].code)
    assert_problem(await other_town.get(f"/api/v1/wishes/pairings/{pairing_id}"), 404, "not_found")

    project = await reviewer.post(f"/api/v1/wishes/pairings/{pairing_id}/projects", json={
        "title": "老区村茶叶合作社", "description": "帮助建设茶叶加工点", "budget": "50000.00"})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    started = await reviewer.post(f"/api/v1/wishes/pairings/{pairing_id}/projects/{project_id}:start")
    assert (started.json()["status"], started.json()["started_on"]) == ("in_progress", "2020-06-15")
    assert_problem(await reviewer.post(f"/api/v1/wishes/pairings/{pairing_id}/projects/{project_id}:start"),
                   409, "invalid_status")
    detail = (await reviewer.get(f"/api/v1/wishes/pairings/{pairing_id}")).json()
    assert [(p["title"], p["status"], p["budget"]) for p in detail["projects"]] == [("老区村茶叶合作社", "in_progress", "50000.00")]
    listed = (await api.get("/api/v1/wishes/pairings", params={"village": village})).json()["items"]
    assert [p["id"] for p in listed] == [pairing_id]
    ended = await api.post(f"/api/v1/wishes/pairings/{pairing_id}:end")
    assert (ended.json()["status"], ended.json()["ended_on"]) == ("ended", "2020-06-15")
    assert_problem(await reviewer.post(f"/api/v1/wishes/pairings/{pairing_id}/projects", json={"title": "x"}),
                   409, "invalid_status")
    # Ended: the organization may pair with the village again.
    again = await api.post("/api/v1/wishes/pairings", json={"organization_id": org_id, "village": village,
                                                             "started_on": "2021-01-01"})
    assert again.status_code == 201, again.text
