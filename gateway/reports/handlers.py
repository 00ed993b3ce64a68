"""The gateway's durable consumers of the household assistance chain (一户一条救助链).

The gateway's event bus (built by ``shared.app.create_service_app`` like every service's) keeps a
durable JetStream consumer named ``gateway`` on each of the five services' streams, filtered to
the types below; each event is projected once (inbox) by :func:`gateway.reports.service.project_event`.
``eligibility.household.changed`` only keeps the household's town current (moves between towns).
"""

from __future__ import annotations

from gateway.reports import service
from gateway.reports.entries import CHAIN_TYPES, TOWN_TYPES
from shared.db import UnitOfWork
from shared.events.consumer import EventHandlers
from shared.events.envelope import CloudEvent


async def project(event: CloudEvent, *, uow: UnitOfWork) -> None:
    """Handler of every chain type: the projection's rows, in the consumer's transaction."""
    await service.project_event(uow.session, event, now=uow.now())


def make_handlers() -> EventHandlers:
    """A fresh registry per app (``create_service_app`` adds its own calendar handler to it)."""
    handlers = EventHandlers()
    for event_type in (*CHAIN_TYPES, *TOWN_TYPES):
        handlers.on(event_type)(project)
    return handlers
