"""Schemas of donors, pledges and the R-MW-3 / R-MW-4 calculators."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.wishes import rules
from services.wishes.schemas import Timestamp, Trace
from shared.money import PositiveYuan, Yuan
from shared.timestamps import BusinessDatetime

MAX_WISHES_PER_PLEDGE = 50


class DuplicateWishError(ValueError):
    code = "duplicate_wish"


class PledgeLineIn(BaseModel):
    """One wish of a pledge: ``amount`` in yuan (> 0, whole fen), or omitted for the rest of the wish."""

    model_config = ConfigDict(extra="forbid")

    wish_id: int = Field(ge=1)
    amount: PositiveYuan | None = None


class PledgeIn(BaseModel):
    """A pledge request: one wish in full, part of one wish, or several wishes at once (R-MW-3).
    All of it is accepted, or none of it."""

    model_config = ConfigDict(extra="forbid")

    items: list[PledgeLineIn] = Field(min_length=1, max_length=MAX_WISHES_PER_PLEDGE)

    @field_validator("items")
    @classmethod
    def _distinct(cls, items: list[PledgeLineIn]) -> list[PledgeLineIn]:
        problems = rules.pledge_request_problems(
            [rules.PledgeLine(i.wish_id, i.amount) for i in items], max_lines=MAX_WISHES_PER_PLEDGE
        )
        if problems:
            raise DuplicateWishError("each wish appears once in a pledge")
        return items


class PledgeOut(BaseModel):
    """A pledge and its state (``active`` → ``delivered`` → ``fulfilled``, or ``expired``)."""

    id: int
    request_id: uuid.UUID
    donor: str
    wish_id: int
    wish_title: str
    town: str
    village: str
    village_name: str
    amount: Yuan
    status: str
    pledged_at: Timestamp
    expires_at: Timestamp
    pledge_days: int
    delivered_at: Timestamp | None
    fulfilled_at: Timestamp | None
    expired_at: Timestamp | None


class PledgeRequestOut(BaseModel):
    """The pledges one request made (one per wish) and their ``total`` in yuan."""

    request_id: uuid.UUID
    donor: str
    total: Yuan
    pledges: list[PledgeOut]


class DeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=500, description="e.g. how it was handed over")


class DonorIn(BaseModel):
    """A donor's own profile: a ``person`` or an ``organization``, and the name to show."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["person", "organization"] = "person"
    display_name: str | None = Field(None, max_length=100)


class DonorOut(BaseModel):
    subject: str
    kind: str
    display_name: str | None
    created_at: Timestamp
    updated_at: Timestamp


# --- calculators


class PledgeEvaluateIn(BaseModel):
    """R-MW-3 inputs: a wish's ``cost``, what is ``pledged`` so far, its ``status`` and the offer."""

    model_config = ConfigDict(extra="forbid")

    cost: PositiveYuan
    pledged: Yuan = Decimal("0.00")
    amount: PositiveYuan | None = None
    status: str = "published"


class PledgeEvaluateOut(BaseModel):
    accepted: bool
    code: str | None
    amount: Yuan
    pledged_before: Yuan
    pledged_after: Yuan
    open_amount: Yuan
    fully_pledged: bool
    trace: Trace


class ExpiryEvaluateIn(BaseModel):
    """R-MW-4 inputs: when a pledge was made, its status, and the instant to judge (default now)."""

    model_config = ConfigDict(extra="forbid")

    pledged_at: BusinessDatetime
    status: Literal["active", "delivered", "fulfilled", "expired"] = "active"
    as_of: BusinessDatetime | None = None


class ExpiryEvaluateOut(BaseModel):
    expires_at: Timestamp
    expired: bool
    pledge_days: int
    trace: Trace
