"""What the public board shows (R-MW-2): a wish's place, family type, the wish and its money —
never a name, ID number, phone, address or even the household's id."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.wishes.schemas import Timestamp
from shared.money import Yuan


class BoardWish(BaseModel):
    """A published wish on the board; exactly :data:`services.wishes.rules.BOARD_FIELDS`."""

    model_config = ConfigDict(extra="forbid")

    id: int
    campaign_id: int
    town: str
    town_name: str
    village: str
    village_name: str
    family_type: str
    family_type_label: str
    category: str
    title: str
    description: str
    cost: Yuan
    pledged: Yuan
    open_amount: Yuan
    status: str
    published_at: Timestamp | None


class Progress(BaseModel):
    """Counts of a place (a town, or the whole district) against its target of wishes.

    ``published``: wishes on the board (any status from published on); ``adopted``: fully
    pledged (认领) or further; ``fulfilled``: confirmed by the family or closed. Money in yuan.
    """

    target: int
    published: int
    adopted: int
    fulfilled: int
    cost: Yuan
    pledged: Yuan


class TownProgress(Progress):
    town: str
    town_name: str
    villages: int


class CampaignProgress(BaseModel):
    """A campaign's progress per town and in total, out of ``target`` (101 × 5 = 505)."""

    campaign_id: int
    campaign_name: str
    village_quota: int
    total: Progress
    towns: list[TownProgress]
