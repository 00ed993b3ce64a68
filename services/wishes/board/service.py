"""Queries of the public board (R-MW-2) and of the campaign's progress out of 505 (R-MW-1)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.wishes import rules
from services.wishes.board.schemas import BoardWish, CampaignProgress, Progress, TownProgress
from services.wishes.campaigns.models import Campaign, Wish
from shared import regions
from shared.errors import Problem, not_found
from shared.pagination import PageParams

ADOPTED = ("fully_pledged", "delivered", "confirmed", "closed")
FULFILLED = ("confirmed", "closed")

# Only these columns are ever read for the board: nothing else can leak into it.
_BOARD_COLUMNS = (
    Wish.id, Wish.campaign_id, Wish.town, Wish.village, Wish.family_type, Wish.category, Wish.title,
    Wish.description, Wish.cost, Wish.pledged, Wish.status, Wish.published_at,
)


def _board_wish(row) -> BoardWish:
    return BoardWish(
        id=row.id, campaign_id=row.campaign_id, town=row.town, town_name=regions.town(row.town).name,
        village=row.village, village_name=regions.village(row.village).name, family_type=row.family_type,
        family_type_label=rules.FAMILY_TYPE_LABELS[row.family_type], category=row.category, title=row.title,
        description=row.description, cost=row.cost, pledged=row.pledged,
        open_amount=rules.open_amount(row.cost, row.pledged), status=row.status, published_at=row.published_at,
    )


async def board_page(
    session: AsyncSession, *, page: PageParams, town: str | None, village: str | None, category: str | None,
    status: str | None, campaign_id: int | None,
) -> list[BoardWish]:
    """Published wishes by id (``page.limit + 1``), filtered; 422 for an unknown filter value."""
    query = select(*_BOARD_COLUMNS).where(Wish.status.in_(rules.PUBLIC_STATUSES))
    if status is not None:
        if status not in rules.PUBLIC_STATUSES:
            raise Problem(422, "invalid_status_filter", f"status must be one of {', '.join(rules.PUBLIC_STATUSES)}")
        query = query.where(Wish.status == status)
    if town is not None:
        if not regions.is_town(town):
            raise Problem(422, "unknown_town", f"No town with code {town!r}")
        query = query.where(Wish.town == town)
    if village is not None:
        if not regions.is_village(village):
            raise Problem(422, "unknown_village", f"No village with code {village!r}")
        query = query.where(Wish.village == village)
    if category is not None:
        query = query.where(Wish.category == category)
    if campaign_id is not None:
        query = query.where(Wish.campaign_id == campaign_id)
    if page.after:
        query = query.where(Wish.id > int(page.after[0]))
    rows = (await session.execute(query.order_by(Wish.id).limit(page.limit + 1))).all()
    return [_board_wish(r) for r in rows]


async def board_wish(session: AsyncSession, wish_id: int) -> BoardWish:
    """One published wish; 404 if it is not on the board."""
    row = (await session.execute(
        select(*_BOARD_COLUMNS).where(Wish.id == wish_id, Wish.status.in_(rules.PUBLIC_STATUSES))
    )).first()
    if row is None:
        raise not_found("wish")
    return _board_wish(row)


async def campaign_progress(session: AsyncSession, campaign_id: int | None) -> CampaignProgress:
    """Progress per town and in total of a campaign (the latest when ``campaign_id`` is None)."""
    query = select(Campaign)
    query = query.where(Campaign.id == campaign_id) if campaign_id is not None else query.order_by(Campaign.id.desc())
    campaign = await session.scalar(query.limit(1))
    if campaign is None:
        raise not_found("campaign")
    public = Wish.status.in_(rules.PUBLIC_STATUSES)
    rows = await session.execute(
        select(
            Wish.town,
            func.count().filter(public),
            func.count().filter(Wish.status.in_(ADOPTED)),
            func.count().filter(Wish.status.in_(FULFILLED)),
            func.coalesce(func.sum(case((public, Wish.cost), else_=0)), 0),
            func.coalesce(func.sum(case((public, Wish.pledged), else_=0)), 0),
        )
        .where(Wish.campaign_id == campaign.id)
        .group_by(Wish.town)
    )
    by_town = {r[0]: r[1:] for r in rows.all()}
    quota = campaign.village_quota
    towns: list[TownProgress] = []
    for t in regions.TOWNS:
        published, adopted, fulfilled, cost, pledged = by_town.get(t.code, (0, 0, 0, Decimal(0), Decimal(0)))
        villages = len(regions.villages_of(t.code))
        towns.append(TownProgress(
            town=t.code, town_name=t.name, villages=villages, target=villages * quota, published=published,
            adopted=adopted, fulfilled=fulfilled, cost=Decimal(cost), pledged=Decimal(pledged),
        ))
    total = Progress(
        target=rules.campaign_target(quota, len(regions.VILLAGES)),
        published=sum(t.published for t in towns), adopted=sum(t.adopted for t in towns),
        fulfilled=sum(t.fulfilled for t in towns), cost=sum((t.cost for t in towns), Decimal(0)),
        pledged=sum((t.pledged for t in towns), Decimal(0)),
    )
    return CampaignProgress(
        campaign_id=campaign.id, campaign_name=campaign.name, village_quota=quota, total=total, towns=towns
    )
