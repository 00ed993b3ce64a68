"""The public wish board (公开发布, R-MW-2): no login; published wishes and the campaign's progress.

Nothing on the board identifies a family: no name, ID number, phone or address, and not even
the household's id — only the village, the family type, the wish, its cost and what has been
pledged so far.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from services.wishes.board import service
from services.wishes.board.schemas import BoardWish, CampaignProgress
from services.wishes.campaigns.schemas import Category
from services.wishes.deps import pages, unit_of_work
from shared.db import UnitOfWork
from shared.pagination import Page, PageParams, make_page

router = APIRouter(prefix="/api/v1/wishes/board", tags=["public board"])


@router.get("", response_model=Page[BoardWish])
async def board(
    town: str | None = Query(None, max_length=9, description="town division code, e.g. 350505100"),
    village: str | None = Query(None, max_length=12),
    category: Category | None = Query(None),
    status: str | None = Query(
        None, description="published (open for pledges), fully_pledged, delivered, confirmed, closed"),
    campaign_id: int | None = Query(None, ge=1),
    page: PageParams = Depends(pages),
    uow: UnitOfWork = Depends(unit_of_work),
) -> Page[BoardWish]:
    """Published wishes (no login): village, family type, the wish, ``cost``, ``pledged`` so far,
    ``open_amount`` (yuan) and ``status``, by id. Filters ``town``, ``village``, ``category``,
    ``status``, ``campaign_id``; 422 ``unknown_town`` / ``unknown_village`` /
    ``invalid_status_filter``. Paginated ``{items, next_cursor}``."""
    async with uow:
        rows = await service.board_page(
            uow.session, page=page, town=town, village=village, category=category, status=status,
            campaign_id=campaign_id,
        )
    return make_page(rows, page.limit, key=lambda w: [w.id])


@router.get("/progress", response_model=CampaignProgress)
async def progress(
    campaign_id: int | None = Query(None, ge=1, description="default: the latest campaign"),
    uow: UnitOfWork = Depends(unit_of_work),
) -> CampaignProgress:
    """Progress of a campaign per town and in total, out of its target (101 villages × 5 = 505):
    wishes published, adopted (fully pledged or further), fulfilled; cost and pledged in yuan.
    No login. 404 if there is no campaign."""
    async with uow:
        return await service.campaign_progress(uow.session, campaign_id)


@router.get("/{wish_id}", response_model=BoardWish)
async def board_wish(wish_id: int = Path(ge=1), uow: UnitOfWork = Depends(unit_of_work)) -> BoardWish:
    """One published wish (no login); 404 if it is not on the board."""
    async with uow:
        return await service.board_wish(uow.session, wish_id)
