"""``POST /api/v1/wishes/pledges`` has two ways in: its fast path (a JSON body pledging one wish,
a donor's token, no Idempotency-Key) and its FastAPI route (everything else, and the reference).
Through the gateway, a pledge answered by either has the same shape, and so does a refusal."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.wishes.conftest import WishWorld, village_codes

VILLAGE = village_codes(2)[0]
FAST = {"content-type": "application/json"}
# A JSON media type the fast path leaves to the route (FastAPI reads any "+json" body as JSON).
ROUTE = {"content-type": "application/vnd.pledge+json"}


def shape(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without the values that differ from pledge to pledge."""
    variable = {"id", "request_id", "donor", "pledged_at", "expires_at"}
    return {
        "keys": sorted(answer),
        "pledges": [{k: v for k, v in p.items() if k not in variable} | {"keys": sorted(p)} for p in answer["pledges"]],
        "total": answer["total"],
    }


async def test_the_fast_path_and_the_route_give_the_same_answers(world: WishWorld) -> None:
    wish = await world.published_wish(VILLAGE, cost="100.00", title="书包一个", category="study")
    (first_sub, first), (second_sub, second) = await world.donor_pool(2)
    body = json.dumps({"items": [{"wish_id": wish["id"], "amount": "30.00"}]})
    fast = await first.post("/api/v1/wishes/pledges", content=body, headers=FAST)
    routed = await second.post("/api/v1/wishes/pledges", content=body, headers=ROUTE)
    assert fast.status_code == routed.status_code == 201, (fast.text, routed.text)
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert shape(fast.json()) == shape(routed.json())
    assert (fast.json()["donor"], routed.json()["donor"]) == (first_sub, second_sub)
    pledge = fast.json()["pledges"][0]
    assert (pledge["amount"], pledge["status"], pledge["pledge_days"], pledge["wish_title"]) == ("30.00", "active", 30, "书包一个")
    assert pledge["pledged_at"] == "2020-06-15T09:00:00+08:00" and pledge["expires_at"] == "2020-07-15T09:00:00+08:00"
    # The rest of the wish by one path; then each path refuses the same way.
    rest = await first.post("/api/v1/wishes/pledges", content=json.dumps({"items": [{"wish_id": wish["id"]}]}), headers=FAST)
    assert rest.status_code == 201 and rest.json()["total"] == "40.00"
    late = json.dumps({"items": [{"wish_id": wish["id"], "amount": "1.00"}]})
    refusals = [await second.post("/api/v1/wishes/pledges", content=late, headers=headers) for headers in (FAST, ROUTE)]
    assert [r.status_code for r in refusals] == [409, 409]
    assert refusals[0].json() == refusals[1].json()
    assert refusals[0].headers["content-type"] == "application/problem+json"
    assert refusals[0].json()["code"] == "over_pledged" and refusals[0].json()["open_amount"] == "0.00"
    staff = (await (await world.reviewer(wish["town"])).get(f"/api/v1/wishes/wishes/{wish['id']}")).json()
    assert (Decimal(staff["pledged"]), staff["status"]) == (Decimal("100.00"), "fully_pledged")


async def test_what_the_fast_path_does_not_take_still_gets_its_answer(world: WishWorld) -> None:
    wish = await world.published_wish(VILLAGE, cost="50.00", title="台灯一盏", category="study")
    (_, donor), = await world.donor_pool(1)
    url = "/api/v1/wishes/pledges"
    # A body that is not valid, a token that is not valid, a caller who is not a donor.
    bad = await donor.post(url, content=json.dumps({"items": [{"wish_id": wish["id"], "amount": "0.001"}]}), headers=FAST)
    assert bad.status_code == 422 and bad.json()["code"] == "sub_fen"
    extra = await donor.post(url, content=json.dumps({"items": [{"wish_id": wish["id"]}], "note": "x"}), headers=FAST)
    assert extra.status_code == 422
    forged = await world.public.post(url, content=json.dumps({"items": [{"wish_id": wish["id"]}]}),
                                     headers=FAST | {"authorization": "Bearer not.a.token"})
    assert forged.status_code == 401 and forged.json()["code"] == "unauthorized"
    officer = await world.officer(VILLAGE)
    refused = await officer.post(url, content=json.dumps({"items": [{"wish_id": wish["id"]}]}), headers=FAST)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    board = (await world.public.get(f"/api/v1/wishes/board/{wish['id']}")).json()
    assert board["pledged"] == "0.00"
