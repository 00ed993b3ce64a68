"""Donors and pledges (R-MW-3, R-MW-4) and their calculators.

- ``POST /api/v1/wishes/pledges`` — a donor pledges one wish in full, part of one, or several at
  once (all or nothing); ``GET`` lists a donor's own pledges (staff: their place's);
- ``GET /api/v1/wishes/pledges/{id}``, ``POST …/{id}:deliver``;
- ``GET/PUT /api/v1/wishes/donors/me`` — the donor's profile;
- ``POST /api/v1/wishes/pledges:evaluate`` (R-MW-3), ``POST /api/v1/wishes/pledge-expiry:evaluate``
  (R-MW-4).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, status
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.wishes import rules
from services.wishes.deps import IdempotencyKey, pages, raw_connection, unit_of_work, uow_maker
from services.wishes.idempotent import idempotent_write
from services.wishes.parameters.service import InForceCache, in_force
from services.wishes.pledges import service
from services.wishes.pledges.models import PLEDGE_STATUSES
from services.wishes.pledges.schemas import (
    DeliverIn, DonorIn, DonorOut, ExpiryEvaluateIn, ExpiryEvaluateOut, PledgeEvaluateIn, PledgeEvaluateOut, PledgeIn,
    PledgeLineIn, PledgeOut, PledgeRequestOut,
)
from services.wishes.schemas import Trace
from shared.auth import (
    DISTRICT_ADMIN, DONOR, STAFF_ROLES, TOWN_APPROVER, TOWN_CASEWORKER, VILLAGE_OFFICER, Principal, authenticated,
    bearer_from_headers, require_roles,
)
from shared.clock import SHANGHAI
from shared.db import UnitOfWork
from shared.errors import Problem
from shared.http import fast_path, send_problem
from shared.pagination import Page, PageParams, make_page

router = APIRouter(prefix="/api/v1/wishes", tags=["donors and pledges"])

PLEDGE_READERS = (DONOR, *STAFF_ROLES, VILLAGE_OFFICER)


def _parameters(request: Request) -> InForceCache:
    cache = getattr(request.app.state, "parameter_cache", None)
    if cache is None:
        cache = request.app.state.parameter_cache = InForceCache()
    return cache


def _known_donors(request: Request) -> set[str]:
    """Donor profiles this process knows exist (skips an upsert per pledge)."""
    return _known_donors_of(request.app)


def _known_donors_of(app: FastAPI) -> set[str]:
    known = getattr(app.state, "known_donors", None)
    if known is None or len(known) > 200_000:
        known = app.state.known_donors = set()
    return known


@router.post(
    "/pledges", response_model=PledgeRequestOut, status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "over_pledged (with open_amount) or wish_not_open"}},
)
async def pledge(
    body: PledgeIn,
    request: Request,
    idempotency_key: str | None = IdempotencyKey,
    new_uow: Callable[[], UnitOfWork] = Depends(uow_maker),
    principal: Principal = Depends(require_roles(DONOR)),
) -> Response:
    """Pledge (认领) wishes of the board, all or nothing (R-MW-3). Donor role.

    Body ``{"items": [{"wish_id": 12, "amount": "150.00"}, {"wish_id": 13}]}``: an ``amount`` in
    yuan (> 0, whole fen) pledges part of a wish; no amount pledges the rest of it. Up to 50
    wishes. A wish's pledged total never exceeds its cost: 409 ``over_pledged`` with
    ``open_amount`` (yuan still open) and nothing stored; 409 ``wish_not_open`` for a wish
    delivered or further; 404 for a wish not on the board; 422 ``not_positive`` / ``negative``
    / ``sub_fen`` / ``duplicate_wish``. Each pledge expires after ``pledge_days`` (30) unless
    delivered (R-MW-4). Accepts Idempotency-Key.
    """
    known = _known_donors(request)
    if len(body.items) == 1 and idempotency_key is None:
        # The hot path (also taken by pledge_fast): one statement on the raw connection.
        return await _pledge_one(request.app, getattr(request.state, "correlation_id", None), principal, body.items[0])

    async def action(uow: UnitOfWork) -> PledgeRequestOut:
        made = await service.make_pledges(
            uow=uow, principal=principal, data=body, known_donors=known, parameters=_parameters(request),
        )
        pledges = [service.pledge_out(p, made.wishes[p.wish_id]) for p in made.pledges]
        return PledgeRequestOut(
            request_id=made.request_id, donor=principal.subject,
            total=sum((p.amount for p in pledges), Decimal("0.00")), pledges=pledges,
        )

    return await idempotent_write(
        new_uow, key=idempotency_key, scope=f"{principal.subject}:POST:/pledges",
        payload=lambda: body.model_dump(mode="json"), status_code=201, action=action,
        after_commit=lambda: known.add(principal.subject),
    )


def _pledge_days_cache(app: FastAPI) -> service.PledgeDaysCache:
    cache = getattr(app.state, "pledge_days_cache", None)
    if cache is None:
        cache = app.state.pledge_days_cache = service.PledgeDaysCache()
    return cache


async def _pledge_one(app: FastAPI, correlation_id: str | None, principal: Principal, item: PledgeLineIn) -> Response:
    """A pledge of one wish (no Idempotency-Key): ``service.pledge_one`` on a raw connection; 201
    with the request's pledges (Problems propagate)."""
    def new_uow() -> UnitOfWork:
        return app.state.uow_factory(correlation_id)

    days = await _pledge_days_cache(app).get(new_uow, app.state.clock)
    async with raw_connection(app) as conn:
        made = await service.pledge_one(
            conn=conn, uow=new_uow(), principal=principal, item=item, days=days, known_donors=_known_donors_of(app),
        )
    bus = app.state.bus
    if bus is not None:
        bus.wake_relay()  # the statement stored the events
    answer = PledgeRequestOut.model_construct(
        request_id=made.request_id, donor=principal.subject, total=made.amount, pledges=[made])
    return Response(answer.model_dump_json(), status_code=201, media_type="application/json")


@fast_path(router, "POST", "/api/v1/wishes/pledges")
async def pledge_fast(scope: Scope, receive: Receive, send: Send, fallback: ASGIApp) -> None:
    """``POST /pledges`` in its common form — a JSON body pledging one wish, a donor's valid bearer
    token, no Idempotency-Key — answered without FastAPI's routing and dependency injection (a
    sizeable share of a pledge's CPU). Anything else (another content type, a body or token that
    does not pass, several wishes, a key) goes to :func:`pledge`, which gives every refusal its
    usual answer; the outcome of a valid pledge is the same either way (``_pledge_one``)."""
    message = await receive()
    body = message.get("body", b"") if message["type"] == "http.request" else b""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return message
        return await receive()

    token = bearer_from_headers(scope["headers"])
    plain = message.get("more_body", False) is False and message["type"] == "http.request"
    json_body = False
    for key, value in scope["headers"]:
        if key == b"content-type":
            json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
        elif key == b"idempotency-key":
            plain = False
    principal = None
    if plain and json_body and token is not None:
        try:
            data = PledgeIn.model_validate(json.loads(body))
            principal = await scope["app"].state.token_verifier.verify(token)
        except Exception:  # noqa: BLE001 - bad JSON, a bad body, a bad token: the route answers it
            principal = None
        if principal is not None and (DONOR not in principal.roles or len(data.items) != 1):
            principal = None
    if principal is None:
        await fallback(scope, replay, send)
        return
    state = scope["state"]
    state["principal"] = principal
    structlog.contextvars.bind_contextvars(principal=principal.subject)
    try:
        response = await _pledge_one(scope["app"], state.get("correlation_id"), principal, data.items[0])
    except Problem as problem:
        await send_problem(scope, send, problem)
        return
    await response(scope, replay, send)


@router.get("/pledges", response_model=Page[PledgeOut])
async def list_pledges(
    status_: str | None = Query(None, alias="status", description="active, delivered, fulfilled, expired"),
    wish_id: int | None = Query(None, ge=1),
    page: PageParams = Depends(pages),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*PLEDGE_READERS)),
) -> Page[PledgeOut]:
    """A donor's own pledges and their state, newest first; staff see the pledges on their
    town's (village's) wishes. Filters ``status``, ``wish_id``."""
    if status_ is not None and status_ not in PLEDGE_STATUSES:
        raise Problem(422, "invalid_status_filter", f"status must be one of {', '.join(PLEDGE_STATUSES)}")
    async with uow:
        rows = await service.list_pledges(uow=uow, principal=principal, page=page, status=status_, wish_id=wish_id)
        items = [service.pledge_out(p, w) for p, w in rows]
    return make_page(items, page.limit, key=lambda p: [p.id])


@router.get("/pledges/{pledge_id}", response_model=PledgeOut)
async def get_pledge(
    pledge_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(*PLEDGE_READERS)),
) -> PledgeOut:
    """One pledge: a donor's own, or one on a wish of the staff member's place (404 otherwise)."""
    async with uow:
        pledge_, wish = await service.get_pledge(uow=uow, principal=principal, pledge_id=pledge_id)
        return service.pledge_out(pledge_, wish)


@router.post("/pledges/{pledge_id}:deliver", response_model=PledgeOut)
async def deliver_pledge(
    body: DeliverIn | None = None,
    pledge_id: int = Path(ge=1),
    uow: UnitOfWork = Depends(unit_of_work),
    principal: Principal = Depends(require_roles(DONOR, VILLAGE_OFFICER, TOWN_APPROVER, TOWN_CASEWORKER, DISTRICT_ADMIN)),
) -> PledgeOut:
    """The pledge was handed over (R-MW-4): by its donor, or recorded by the village officer or the
    town. It no longer expires; a fully pledged wish with nothing left to deliver becomes
    ``delivered`` and awaits the family's confirmation. 409 ``invalid_status``."""
    async with uow:
        pledge_, wish = await service.deliver_pledge(
            uow=uow, principal=principal, pledge_id=pledge_id, note=body.note if body else None
        )
        await uow.commit()
        return service.pledge_out(pledge_, wish)


# --- donors ----------------------------------------------------------------------------------


def _donor_out(donor) -> DonorOut:  # noqa: ANN001 - a Donor row
    return DonorOut(subject=donor.subject, kind=donor.kind, display_name=donor.display_name,
                    created_at=donor.created_at, updated_at=donor.updated_at)


@router.get("/donors/me", response_model=DonorOut)
async def my_profile(
    uow: UnitOfWork = Depends(unit_of_work), principal: Principal = Depends(require_roles(DONOR))
) -> DonorOut:
    """The calling donor's profile (keyed by the token's ``sub``; created on first use)."""
    async with uow:
        donor = await service.get_donor(uow=uow, principal=principal)
        await uow.commit()
        return _donor_out(donor)


@router.put("/donors/me", response_model=DonorOut)
async def update_my_profile(
    body: DonorIn, uow: UnitOfWork = Depends(unit_of_work), principal: Principal = Depends(require_roles(DONOR))
) -> DonorOut:
    """Set the calling donor's ``kind`` (``person`` or ``organization``) and ``display_name``."""
    async with uow:
        donor = await service.update_donor(uow=uow, principal=principal, data=body)
        await uow.commit()
        return _donor_out(donor)


# --- calculators -----------------------------------------------------------------------------


@router.post("/pledges:evaluate", response_model=PledgeEvaluateOut, tags=["calculators"])
async def evaluate_pledge(body: PledgeEvaluateIn, _: Principal = Depends(authenticated)) -> PledgeEvaluateOut:
    """R-MW-3 calculator (stores nothing): would ``amount`` yuan (omitted: the rest of the wish)
    be accepted on a wish of ``cost`` with ``pledged`` so far? Returns the outcome (refusal
    ``code`` ``over_pledged`` or ``wish_not_open``), the totals before and after, the
    ``open_amount`` and the trace. 422 ``pledged_above_cost`` when pledged > cost."""
    if body.pledged > body.cost:
        raise Problem(422, "pledged_above_cost", "pledged cannot exceed cost")
    outcome = rules.evaluate_pledge(cost=body.cost, pledged=body.pledged, amount=body.amount, status=body.status)
    return PledgeEvaluateOut(
        accepted=outcome.accepted, code=outcome.code, amount=outcome.amount, pledged_before=outcome.pledged_before,
        pledged_after=outcome.pledged_after, open_amount=outcome.open_amount, fully_pledged=outcome.fully_pledged,
        trace=Trace(
            rules=["R-MW-3"], inputs=body.model_dump(mode="json"),
            figures={"open_before": f"{rules.open_amount(body.cost, body.pledged):.2f}",
                     "pledged_after": f"{outcome.pledged_after:.2f}"},
        ),
    )


@router.post("/pledge-expiry:evaluate", response_model=ExpiryEvaluateOut, tags=["calculators"])
async def evaluate_expiry(
    body: ExpiryEvaluateIn, uow: UnitOfWork = Depends(unit_of_work), _: Principal = Depends(authenticated)
) -> ExpiryEvaluateOut:
    """R-MW-4 calculator (stores nothing): when does a pledge made at ``pledged_at`` expire, and has
    it by ``as_of`` (default now)? Uses the ``pledge_days`` in force on the pledge's date
    (Asia/Shanghai). Only an ``active`` (undelivered) pledge expires."""
    as_of = body.as_of or uow.now()
    pledge_date = body.pledged_at.astimezone(SHANGHAI).date()
    async with uow:
        days = await in_force(uow.session, "pledge_days", pledge_date)
    expires_at = rules.pledge_expires_at(body.pledged_at, days.value)
    return ExpiryEvaluateOut(
        expires_at=expires_at.astimezone(SHANGHAI), pledge_days=days.value,
        expired=rules.pledge_expired(status=body.status, expires_at=expires_at, now=as_of),
        trace=Trace(rules=["R-MW-4"], inputs=body.model_dump(mode="json") | {"as_of": as_of.isoformat()},
                    parameters=[days.used()], figures={"expires_at": expires_at.isoformat()}),
    )
