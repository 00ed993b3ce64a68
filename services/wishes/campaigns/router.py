"""Campaigns and wishes (R-MW-1, R-MW-2, R-MW-4) and the collection / publication calculators.

- ``/api/v1/wishes/campaigns`` — campaigns (district_admin creates and closes them);
- ``/api/v1/wishes/campaigns/{id}/wishes`` — a village officer enters wishes; staff list them;
- ``/api/v1/wishes/wishes/{id}`` and its actions ``:publish``, ``:reject`` (town), ``:confirm``
  (village or town), ``:close`` (town);
- ``POST /api/v1/wishes/collection:evaluate`` (R-MW-1), ``POST /api/v1/wishes/publication:evaluate``
  (R-MW-2).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse

from services.wishes import rules
from services.wishes.campaigns import service
from services.wishes.campaigns.models import WISH_STATUSES
from services.wishes.campaigns.schemas import (
    CampaignIn, CampaignOut, CollectionEvaluateIn, CollectionEvaluateOut, ConfirmIn, Finding,
    PublicationEvaluateIn, PublicationEvaluateOut, RejectIn, WishIn, WishOut,
)
from services.wishes.deps import IdempotencyKey, pages, unit_of_work, uow_maker
from services.wishes.idempotent import idempotent_write
from services.wishes.parameters.service import in_force
from services.wishes.schemas import Trace
from shared import regions
from shared.auth import (
    DISTRICT_ADMIN, STAFF_ROLES, TOWN_APPROVER, TOWN_CASEWORKER, VILLAGE_OFFICER, Principal, authenticated,
    require_roles,
)
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.pagination import Page, PageParams, make_page

router = APIRouter(prefix="/api/v1/wishes", tags=["campaigns and wishes"])

WISH_READERS = (*STAFF_ROLES, VILLAGE_OFFICER)


# --- campaigns -------------------------------------------------------------------------------


@router.post("/campaigns", response_model=CampaignOut, status_code=status.HTTP_201_CREATED)
async def create_campaign(
    body: CampaignIn,
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> CampaignOut:
    """Start a "505" campaign (微光成炬). Its village quota is the ``village_quota`` parameter in
    force on ``starts_on`` (5 wishes per village, 505 in all, R-MW-1). district_admin only.
    409 ``parameter_not_in_force``."""
    async with uow:
        campaign = await service.create_campaign(uow=uow, principal=principal, data=body)
        await uow.commit()
        return service.campaign_out(campaign)


@router.get("/campaigns", response_model=Page[CampaignOut])
async def list_campaigns(
    page: PageParams = Depends(pages),
    uow: UnitOfWork = Depends(unit_of_work),
    _: Principal = Depends(authenticated),
) -> Page[CampaignOut]:
    """Campaigns, newest first. Any authenticated caller."""
    async with uow:
        rows = [service.campaign_out(c) for c in await service.list_campaigns(uow.session, page)]
    return make_page(rows, page.limit, key=lambda c: [c.id])


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(
    campaign_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    _: Principal = Depends(authenticated),
) -> CampaignOut:
    """One campaign. 404 ``not_found``."""
    async with uow:
        return service.campaign_out(await service.get_campaign(uow.session, campaign_id))


@router.post("/campaigns/{campaign_id}:close", response_model=CampaignOut)
async def close_campaign(
    campaign_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    _: Principal = Depends(require_roles(DISTRICT_ADMIN)),
) -> CampaignOut:
    """Stop taking wishes (published ones stay on the board). district_admin; 409 ``invalid_status``."""
    async with uow:
        campaign = await service.close_campaign(uow=uow, campaign_id=campaign_id)
        await uow.commit()
        return service.campaign_out(campaign)


# --- wishes ----------------------------------------------------------------------------------


@router.post(
    "/campaigns/{campaign_id}/wishes", response_model=WishOut, status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "village_quota, household_has_wish, campaign_closed"}},
)
async def enter_wish(
    body: WishIn,
    campaign_id: int = Path(ge=1),
    idempotency_key: str | None = IdempotencyKey,
    new_uow: Callable[[], UnitOfWork] = Depends(uow_maker),
    principal: Principal = Depends(require_roles(VILLAGE_OFFICER)),
) -> JSONResponse:
    """A village officer enters a family's micro-wish (微心愿) for the town's review (R-MW-1).

    Body: ``household_id`` (eligibility's id of the family), ``category``, ``title`` (the wish),
    ``description``, ``cost`` (yuan). The family must live in the officer's village (404) and be
    a registered-poor, dibao, tekun, lonely-elderly or child-in-difficulty household per this
    service's projection of eligibility's events (422 ``not_eligible``); one wish per family
    (409 ``household_has_wish``), ``village_quota`` (5) per village (409 ``village_quota``).
    Text holding an ID number, phone or address: 422 ``personal_data``. Accepts Idempotency-Key.
    """

    async def action(uow: UnitOfWork) -> WishOut:
        wish = await service.enter_wish(uow=uow, principal=principal, campaign_id=campaign_id, data=body)
        return service.wish_out(wish)

    return await idempotent_write(
        new_uow, key=idempotency_key, scope=f"{principal.subject}:POST:/campaigns/{campaign_id}/wishes",
        payload=body.model_dump(mode="json"), status_code=201, action=action,
    )


@router.get("/campaigns/{campaign_id}/wishes", response_model=Page[WishOut])
async def list_wishes(
    campaign_id: int = Path(ge=1),
    status_: str | None = Query(None, alias="status", description=f"one of {', '.join(WISH_STATUSES)}"),
    town: str | None = Query(None, max_length=9),
    village: str | None = Query(None, max_length=12),
    page: PageParams = Depends(pages),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*WISH_READERS)),
) -> Page[WishOut]:
    """A campaign's wishes in every status, as staff see them: district staff all, town staff
    their town's, a village officer their village's. Filters ``status``, ``town``, ``village``."""
    if status_ is not None and status_ not in WISH_STATUSES:
        raise Problem(422, "invalid_status_filter", f"status must be one of {', '.join(WISH_STATUSES)}")
    async with uow:
        rows = await service.list_wishes(
            uow=uow, principal=principal, campaign_id=campaign_id, page=page, status=status_, town=town, village=village
        )
        items = [service.wish_out(w) for w in rows]
    return make_page(items, page.limit, key=lambda w: [w.id])


@router.get("/wishes/{wish_id}", response_model=WishOut)
async def get_wish(
    wish_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*WISH_READERS)),
) -> WishOut:
    """One wish with its review and fulfilment history. 404 for another town's or village's wish."""
    async with uow:
        return service.wish_out(await service.get_wish(uow=uow, principal=principal, wish_id=wish_id))


@router.post("/wishes/{wish_id}:publish", response_model=WishOut)
async def publish_wish(
    wish_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(TOWN_APPROVER, TOWN_CASEWORKER)),
) -> WishOut:
    """The town publishes a submitted wish on the public board (R-MW-2). Town staff of the wish's
    town; 409 ``invalid_status``, ``not_eligible`` (no longer), ``personal_data``.
    Emits ``wishes.wish.published``."""
    async with uow:
        wish = await service.publish_wish(uow=uow, principal=principal, wish_id=wish_id)
        await uow.commit()
        return service.wish_out(wish)


@router.post("/wishes/{wish_id}:reject", response_model=WishOut)
async def reject_wish(
    body: RejectIn,
    wish_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(TOWN_APPROVER, TOWN_CASEWORKER)),
) -> WishOut:
    """The town turns a submitted wish down with a ``reason``; the village gets its quota slot
    back. Town staff of the wish's town; 409 ``invalid_status``."""
    async with uow:
        wish = await service.reject_wish(uow=uow, principal=principal, wish_id=wish_id, reason=body.reason)
        await uow.commit()
        return service.wish_out(wish)


@router.post("/wishes/{wish_id}:confirm", response_model=WishOut)
async def confirm_wish(
    body: ConfirmIn,
    wish_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(VILLAGE_OFFICER, TOWN_APPROVER, TOWN_CASEWORKER)),
) -> WishOut:
    """Receipt of a delivered wish, confirmed by the ``family`` or the ``village`` (R-MW-4); its
    pledges become fulfilled. Village officer of the wish's village or town staff;
    409 ``invalid_status``. Emits ``wishes.wish.fulfilled``."""
    async with uow:
        wish = await service.confirm_wish(uow=uow, principal=principal, wish_id=wish_id, data=body)
        await uow.commit()
        return service.wish_out(wish)


@router.post("/wishes/{wish_id}:close", response_model=WishOut)
async def close_wish(
    wish_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(TOWN_APPROVER, TOWN_CASEWORKER)),
) -> WishOut:
    """The town closes a confirmed wish (R-MW-4). 409 ``invalid_status``."""
    async with uow:
        wish = await service.close_wish(uow=uow, principal=principal, wish_id=wish_id)
        await uow.commit()
        return service.wish_out(wish)


# --- calculators -----------------------------------------------------------------------------


@router.post("/collection:evaluate", response_model=CollectionEvaluateOut, tags=["calculators"])
async def evaluate_collection(
    body: CollectionEvaluateIn,
    uow: UnitOfWork = Depends(unit_of_work),
    _: Principal = Depends(authenticated),
) -> CollectionEvaluateOut:
    """R-MW-1 calculator (stores nothing): may a village enter a wish for a family with these
    facts, having ``wishes_in_village`` already? Uses the ``village_quota`` in force on ``on``
    (default today). Returns the decision (refusal ``code``: ``not_eligible``,
    ``household_has_wish``, ``village_quota``), the family type shown on the board, and the trace."""
    on = body.on or local_today(uow.clock)
    async with uow:
        quota = await in_force(uow.session, "village_quota", on)
    facts = rules.FamilyFacts(
        registered_poor=body.registered_poor, dibao=body.dibao, tekun=body.tekun,
        lonely_elderly=body.lonely_elderly, child_in_difficulty=body.child_in_difficulty,
    )
    decision = rules.collection_decision(
        facts, wishes_in_village=body.wishes_in_village, village_quota=quota.value,
        household_has_wish=body.household_has_wish,
    )
    target = rules.campaign_target(quota.value, len(regions.VILLAGES))
    return CollectionEvaluateOut(
        accepted=decision.accepted, code=decision.code, family_types=list(decision.family_types),
        family_type=decision.family_type,
        family_type_label=rules.FAMILY_TYPE_LABELS[decision.family_type] if decision.family_type else None,
        village_quota=quota.value, campaign_target=target, remaining_in_village=decision.remaining_in_village,
        trace=Trace(
            rules=["R-MW-1"], inputs=body.model_dump(mode="json") | {"on": on.isoformat()},
            parameters=[quota.used()],
            figures={"villages": len(regions.VILLAGES), "campaign_target": target,
                     "wishes_in_village": decision.wishes_in_village},
        ),
    )


@router.post("/publication:evaluate", response_model=PublicationEvaluateOut, tags=["calculators"])
async def evaluate_publication(body: PublicationEvaluateIn, _: Principal = Depends(authenticated)) -> PublicationEvaluateOut:
    """R-MW-2 calculator (stores nothing): may this wish text go on the public board? Lists where
    it looks like an ID number, phone or address (positions in each field), and the fields the
    board shows. Names are for the town's review to catch."""
    findings = [
        Finding(field=name, kind=f.kind, start=f.start, end=f.end)
        for name, text in (("title", body.title), ("description", body.description))
        for f in rules.personal_data_findings(text)
    ]
    return PublicationEvaluateOut(
        publishable=not findings, findings=findings, board_fields=list(rules.BOARD_FIELDS),
        trace=Trace(rules=["R-MW-2"], inputs=body.model_dump(), figures={"findings": len(findings)}),
    )
