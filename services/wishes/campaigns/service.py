"""Use cases of campaigns and wishes: entry by the village (R-MW-1), review and publication by the
town (R-MW-2), confirmation of receipt and closing (R-MW-4).

Every function takes ``*, uow`` and runs inside the caller's unit of work; the caller commits.
"""

from __future__ import annotations

from datetime import date

import structlog
from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.wishes import events, rules
from services.wishes.access import ensure_place, ensure_town_reviewer, officer_village, village_scoped
from services.wishes.campaigns.models import Campaign, CampaignVillage, Wish
from services.wishes.campaigns.schemas import CampaignIn, CampaignOut, ConfirmIn, WishIn, WishOut
from services.wishes.families.service import known_family
from services.wishes.parameters.service import in_force
from services.wishes.pledges.models import Pledge
from shared import regions
from shared.auth import Principal
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.pagination import PageParams

log = structlog.get_logger("wishes.campaigns")


# --- campaigns -------------------------------------------------------------------------------


def campaign_out(campaign: Campaign) -> CampaignOut:
    return CampaignOut(
        id=campaign.id, name=campaign.name, starts_on=campaign.starts_on, ends_on=campaign.ends_on,
        status=campaign.status, village_quota=campaign.village_quota,
        quota_parameter_id=campaign.quota_parameter_id,
        target=rules.campaign_target(campaign.village_quota, len(regions.VILLAGES)),
        created_at=campaign.created_at, closed_at=campaign.closed_at,
    )


async def create_campaign(*, uow: UnitOfWork, principal: Principal, data: CampaignIn) -> Campaign:
    """A new campaign with the ``village_quota`` in force on its first day (R-MW-1)."""
    quota = await in_force(uow.session, "village_quota", data.starts_on)
    campaign = Campaign(
        name=data.name, starts_on=data.starts_on, ends_on=data.ends_on, village_quota=quota.value,
        quota_parameter_id=quota.version_id, status="open", created_at=uow.now(), created_by=principal.subject,
    )
    uow.session.add(campaign)
    await uow.session.flush()
    log.info("wishes.campaign.created", campaign_id=campaign.id, village_quota=quota.value)
    return campaign


async def get_campaign(session: AsyncSession, campaign_id: int, *, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    campaign = await session.scalar(query)
    if campaign is None:
        raise not_found("campaign")
    return campaign


async def close_campaign(*, uow: UnitOfWork, campaign_id: int) -> Campaign:
    """No more wishes are entered; published wishes stay on the board. 409 ``invalid_status``."""
    campaign = await get_campaign(uow.session, campaign_id, lock=True)
    if campaign.status != "open":
        raise Problem(409, "invalid_status", "The campaign is already closed")
    campaign.status = "closed"
    campaign.closed_at = uow.now()
    log.info("wishes.campaign.closed", campaign_id=campaign.id)
    return campaign


async def list_campaigns(session: AsyncSession, page: PageParams) -> list[Campaign]:
    """Campaigns, newest first, ``page.limit + 1`` of them."""
    query = select(Campaign).order_by(Campaign.id.desc()).limit(page.limit + 1)
    if page.after:
        query = query.where(Campaign.id < int(page.after[0]))
    return list((await session.scalars(query)).all())


def _ensure_running(campaign: Campaign, today: date) -> None:
    if campaign.status != "open":
        raise Problem(409, "campaign_closed", "The campaign is closed")
    if today < campaign.starts_on or (campaign.ends_on is not None and today > campaign.ends_on):
        raise Problem(409, "campaign_not_running", f"The campaign does not take wishes on {today.isoformat()}")


# --- wishes ----------------------------------------------------------------------------------


def wish_out(wish: Wish) -> WishOut:
    return WishOut(
        id=wish.id, campaign_id=wish.campaign_id, household_id=wish.household_id,
        town=wish.town, town_name=regions.town(wish.town).name,
        village=wish.village, village_name=regions.village(wish.village).name,
        family_type=wish.family_type, family_type_label=rules.FAMILY_TYPE_LABELS[wish.family_type],
        category=wish.category, title=wish.title, description=wish.description,
        cost=wish.cost, pledged=wish.pledged, open_amount=rules.open_amount(wish.cost, wish.pledged),
        status=wish.status, entered_by=wish.entered_by, entered_at=wish.entered_at,
        reviewed_by=wish.reviewed_by, reviewed_at=wish.reviewed_at, rejection_reason=wish.rejection_reason,
        published_at=wish.published_at, fully_pledged_at=wish.fully_pledged_at, delivered_at=wish.delivered_at,
        confirmed_at=wish.confirmed_at, confirmed_by=wish.confirmed_by, closed_at=wish.closed_at,
    )


def wish_event_fields(wish: Wish) -> dict:
    """The fields every ``wishes.wish.*`` event carries (no personal data)."""
    return {
        "wish_id": wish.id, "campaign_id": wish.campaign_id, "town": wish.town, "village": wish.village,
        "household_id": wish.household_id, "family_type": wish.family_type, "category": wish.category,
        "cost": wish.cost, "pledged": wish.pledged,
    }


def _collection_refusal(decision: rules.CollectionDecision) -> Problem:
    if decision.code == "not_eligible":
        return Problem(
            422, "not_eligible",
            "The family is none of: registered-poor, dibao, tekun, lonely-elderly or child-in-difficulty (R-MW-1)",
        )
    if decision.code == "household_has_wish":
        return Problem(409, "household_has_wish", "The family already has a wish in this campaign (R-MW-1)")
    return Problem(
        409, "village_quota",
        f"The village already has {decision.wishes_in_village} wishes in this campaign, "
        f"the most allowed is {decision.village_quota} (R-MW-1)",
        village_quota=decision.village_quota, wishes_in_village=decision.wishes_in_village,
    )


async def enter_wish(*, uow: UnitOfWork, principal: Principal, campaign_id: int, data: WishIn) -> Wish:
    """A village officer enters a family's wish (R-MW-1); it awaits the town's review.

    The family must be known from eligibility's events, live in the officer's village (404
    otherwise) and be eligible (422 ``not_eligible``); one live wish per family and campaign
    (409 ``household_has_wish``); at most ``village_quota`` per village (409 ``village_quota``,
    enforced by the database whatever the concurrency). 409 ``campaign_closed`` /
    ``campaign_not_running``.
    """
    village = officer_village(principal)
    session = uow.session
    campaign = await get_campaign(session, campaign_id)
    _ensure_running(campaign, local_today(uow.clock))
    family = await known_family(session, data.household_id)
    if family is None or family.village != village:
        raise not_found("household")
    has_wish = bool(await session.scalar(select(exists().where(
        Wish.campaign_id == campaign.id, Wish.household_id == data.household_id, Wish.status != "rejected"
    ))))
    in_village = await session.scalar(select(CampaignVillage.wishes).where(
        CampaignVillage.campaign_id == campaign.id, CampaignVillage.village == village
    )) or 0
    decision = rules.collection_decision(
        family.facts, wishes_in_village=in_village, village_quota=campaign.village_quota, household_has_wish=has_wish
    )
    if not decision.accepted:
        raise _collection_refusal(decision)
    assert decision.family_type is not None
    town = regions.town_of_village(village).code

    # Take one of the village's slots: atomic, and the CHECK refuses a 6th whatever the race.
    slot = insert(CampaignVillage).values(
        campaign_id=campaign.id, village=village, town=town, quota=campaign.village_quota, wishes=1
    )
    taken = await session.scalar(
        slot.on_conflict_do_update(
            index_elements=[CampaignVillage.campaign_id, CampaignVillage.village],
            set_={"wishes": CampaignVillage.wishes + 1},
            where=CampaignVillage.wishes < CampaignVillage.quota,
        ).returning(CampaignVillage.wishes)
    )
    if taken is None:
        raise _collection_refusal(rules.collection_decision(
            family.facts, wishes_in_village=campaign.village_quota, village_quota=campaign.village_quota
        ))
    wish = Wish(
        campaign_id=campaign.id, household_id=data.household_id, town=town, village=village,
        family_type=decision.family_type, category=data.category, title=data.title, description=data.description,
        cost=data.cost, status="submitted", entered_by=principal.subject, entered_at=uow.now(),
    )
    session.add(wish)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Another officer entered a wish for the same family at the same moment.
        raise _collection_refusal(rules.collection_decision(
            family.facts, wishes_in_village=0, village_quota=campaign.village_quota, household_has_wish=True
        )) from None
    log.info("wishes.wish.entered", wish_id=wish.id, campaign_id=campaign.id, village=village)
    return wish


async def locked_wish(session: AsyncSession, wish_id: int) -> Wish:
    """The wish, row-locked for this transaction; 404 if there is none."""
    wish = await session.scalar(
        select(Wish).where(Wish.id == wish_id).with_for_update().execution_options(populate_existing=True)
    )
    if wish is None:
        raise not_found("wish")
    return wish


def _transition(action: str, status: str) -> str:
    try:
        return rules.next_status(rules.WISH_TRANSITIONS, action, status)
    except rules.InvalidTransition as exc:
        raise Problem(409, "invalid_status", f"Cannot {action} the wish: it is {status}", wish_status=status) from None


async def publish_wish(*, uow: UnitOfWork, principal: Principal, wish_id: int) -> Wish:
    """The town publishes a submitted wish on the board (R-MW-2) after checking it holds no
    personal data; the family must still be eligible (409 ``not_eligible``). Town staff of the
    wish's town only (404 otherwise); 409 ``invalid_status``. Emits ``wishes.wish.published``."""
    session = uow.session
    wish = await locked_wish(session, wish_id)
    ensure_town_reviewer(principal, wish.town, "wish")
    target = _transition("publish", wish.status)
    family = await known_family(session, wish.household_id)
    if family is None or not family.family_types:
        raise Problem(409, "not_eligible", "The family is no longer eligible for a wish (R-MW-1)")
    if rules.personal_data_findings(f"{wish.title}\n{wish.description}"):
        raise Problem(409, "personal_data", "The wish's text holds personal data; reject it (R-MW-2)")
    now = uow.now()
    wish.status, wish.reviewed_by, wish.reviewed_at, wish.published_at = target, principal.subject, now, now
    uow.emit(events.WISH_PUBLISHED, events.WishPublished(**wish_event_fields(wish), published_at=now), subject=str(wish.id))
    log.info("wishes.wish.published", wish_id=wish.id, town=wish.town)
    return wish


async def reject_wish(*, uow: UnitOfWork, principal: Principal, wish_id: int, reason: str) -> Wish:
    """The town turns a submitted wish down; its slot in the village quota is given back, so the
    village may enter another. Town staff of the wish's town; 409 ``invalid_status``."""
    session = uow.session
    wish = await locked_wish(session, wish_id)
    ensure_town_reviewer(principal, wish.town, "wish")
    target = _transition("reject", wish.status)
    wish.status, wish.reviewed_by, wish.reviewed_at, wish.rejection_reason = target, principal.subject, uow.now(), reason
    await session.execute(
        update(CampaignVillage)
        .where(CampaignVillage.campaign_id == wish.campaign_id, CampaignVillage.village == wish.village)
        .values(wishes=CampaignVillage.wishes - 1)
    )
    log.info("wishes.wish.rejected", wish_id=wish.id, town=wish.town)
    return wish


async def confirm_wish(*, uow: UnitOfWork, principal: Principal, wish_id: int, data: ConfirmIn) -> Wish:
    """Receipt of a delivered wish confirmed by the family (or the village for it) (R-MW-4): the
    wish is confirmed, its delivered pledges fulfilled. The village officer of the wish's
    village or town staff; 409 ``invalid_status``. Emits ``wishes.wish.fulfilled``."""
    session = uow.session
    wish = await locked_wish(session, wish_id)
    ensure_place(principal, wish.town, wish.village, "wish")
    target = _transition("confirm", wish.status)
    now = uow.now()
    wish.status, wish.confirmed_at, wish.confirmed_by = target, now, data.confirmed_by
    wish.confirmation_recorded_by, wish.confirmation_note = principal.subject, data.note
    fulfilled = (await session.scalars(
        update(Pledge)
        .where(Pledge.wish_id == wish.id, Pledge.status == "delivered")
        .values(status="fulfilled", fulfilled_at=now)
        .returning(Pledge.id)
    )).all()
    uow.emit(
        events.WISH_FULFILLED,
        events.WishFulfilled(**wish_event_fields(wish), confirmed_by=data.confirmed_by, confirmed_at=now,
                             pledge_ids=sorted(fulfilled)),
        subject=str(wish.id),
    )
    log.info("wishes.wish.fulfilled", wish_id=wish.id, pledges=len(fulfilled))
    return wish


async def close_wish(*, uow: UnitOfWork, principal: Principal, wish_id: int) -> Wish:
    """The town closes a confirmed wish (R-MW-4). Town staff of its town; 409 ``invalid_status``."""
    wish = await locked_wish(uow.session, wish_id)
    ensure_town_reviewer(principal, wish.town, "wish")
    wish.status = _transition("close", wish.status)
    wish.closed_at, wish.closed_by = uow.now(), principal.subject
    log.info("wishes.wish.closed", wish_id=wish.id)
    return wish


async def get_wish(*, uow: UnitOfWork, principal: Principal, wish_id: int) -> Wish:
    """A wish as staff see it: 404 for another town's (or village's) wish."""
    wish = await uow.session.get(Wish, wish_id)
    if wish is None:
        raise not_found("wish")
    ensure_place(principal, wish.town, wish.village, "wish")
    return wish


def scoped_wishes(principal: Principal, query: Select) -> Select:
    """Restrict a wish query to what ``principal`` may see."""
    if principal.district_wide:
        return query
    if village_scoped(principal):
        return query.where(Wish.village == (principal.village or ""))
    return query.where(Wish.town == (principal.town or ""))


async def list_wishes(
    *, uow: UnitOfWork, principal: Principal, campaign_id: int, page: PageParams,
    status: str | None, town: str | None, village: str | None,
) -> list[Wish]:
    """A campaign's wishes the principal may see, by id, ``page.limit + 1`` of them."""
    await get_campaign(uow.session, campaign_id)
    query = scoped_wishes(principal, select(Wish).where(Wish.campaign_id == campaign_id))
    if status:
        query = query.where(Wish.status == status)
    if town:
        query = query.where(Wish.town == town)
    if village:
        query = query.where(Wish.village == village)
    if page.after:
        query = query.where(Wish.id > int(page.after[0]))
    return list((await uow.session.scalars(query.order_by(Wish.id).limit(page.limit + 1))).all())


async def village_counts(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    """Live wishes per village in a campaign (rejected ones do not count)."""
    rows = await session.execute(
        select(CampaignVillage.village, CampaignVillage.wishes).where(CampaignVillage.campaign_id == campaign_id)
    )
    return {village: count for village, count in rows.all()}


async def campaign_wish_count(session: AsyncSession, campaign_id: int) -> int:
    return int(await session.scalar(select(func.coalesce(func.sum(CampaignVillage.wishes), 0)).where(
        CampaignVillage.campaign_id == campaign_id)) or 0)
