"""Events of the wishes service: the ones it produces (one pydantic model per type) and its own
models of the fields it reads from eligibility's events (docs/events.md, section wishes).

Produced (subject = the wish's id for all of them, so a consumer keeps one wish's events in order):

- ``wishes.wish.published``: the town published a wish on the board (R-MW-2);
- ``wishes.wish.pledged``: a donor pledged an amount to a wish (R-MW-3), one event per wish of a request;
- ``wishes.wish.fully_pledged``: the pledged total reached the cost;
- ``wishes.wish.fulfilled``: the family (or the village) confirmed receipt (R-MW-4);
- ``wishes.pledge.expired``: a pledge was not delivered within ``pledge_days``; its amount returned
  to the wish (R-MW-4).

No event carries a name, ID number, phone or address: the service holds none.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator

from shared.money import Yuan

WISH_PUBLISHED = "wishes.wish.published"
WISH_PLEDGED = "wishes.wish.pledged"
WISH_FULLY_PLEDGED = "wishes.wish.fully_pledged"
WISH_FULFILLED = "wishes.wish.fulfilled"
PLEDGE_EXPIRED = "wishes.pledge.expired"

HOUSEHOLD_REGISTERED = "eligibility.household.registered"
HOUSEHOLD_CHANGED = "eligibility.household.changed"
BENEFIT_GRANTED = "eligibility.benefit.granted"
BENEFIT_CHANGED = "eligibility.benefit.changed"
BENEFIT_ENDED = "eligibility.benefit.ended"


class WishEvent(BaseModel):
    """Common fields of every wish event."""

    wish_id: int
    campaign_id: int
    town: str
    village: str
    household_id: str
    family_type: str
    category: str
    cost: Yuan
    pledged: Yuan


class WishPublished(WishEvent):
    published_at: datetime


class WishPledged(WishEvent):
    pledge_id: int
    amount: Yuan
    request_id: str


class WishFullyPledged(WishEvent):
    fully_pledged_at: datetime


class WishFulfilled(WishEvent):
    confirmed_by: str
    confirmed_at: datetime
    pledge_ids: list[int]


class PledgeExpired(WishEvent):
    pledge_id: int
    amount: Yuan
    pledged_at: datetime
    expired_at: datetime


# --- what we read of eligibility's events (fields only ever get added; unknown ones are ignored)


def _as_str(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class MemberIn(BaseModel):
    """The fields of a household member we use: none of the personal ones is even parsed."""

    model_config = ConfigDict(extra="ignore")

    orphan: str | None = None
    child_without_care: bool = False
    deceased_on: str | None = None
    status: str = "active"  # active, deceased, moved_away


class HouseholdIn(BaseModel):
    """``eligibility.household.registered`` / ``changed`` (the full current state)."""

    model_config = ConfigDict(extra="ignore")

    household_id: str
    town: str
    village: str | None = None
    registered_poor: bool = False
    lonely_elderly: bool = False
    members: list[MemberIn] = []
    revision: int | None = None

    _ids = field_validator("household_id", mode="before")(_as_str)


class BenefitIn(BaseModel):
    """``eligibility.benefit.granted`` / ``changed`` / ``ended``."""

    model_config = ConfigDict(extra="ignore")

    benefit_id: str
    household_id: str
    category: str

    _ids = field_validator("benefit_id", "household_id", mode="before")(_as_str)
