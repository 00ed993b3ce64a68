"""The wishes service's FastAPI app: the "505" micro-wish campaign (微光成炬) and 阳光1+1."""

from fastapi import FastAPI

from services.wishes.board.router import router as board_router
from services.wishes.campaigns.router import router as campaigns_router
from services.wishes.config import Settings
from services.wishes.families.handlers import handlers
from services.wishes.families.router import router as families_router
from services.wishes.kpis import router as kpis_router
from services.wishes.pairings.router import router as pairings_router
from services.wishes.parameters.router import router as parameters_router
from services.wishes.pledges.router import router as pledges_router
from services.wishes.pledges.worker import expire_pledges
from shared.app import ServiceSpec, create_service_app

TAGS = [
    {"name": "public board", "description": "No login: published wishes and the campaign's progress (R-MW-2)."},
    {"name": "campaigns and wishes",
     "description": "Entry by the village, review by the town, fulfilment (R-MW-1, R-MW-4)."},
    {"name": "donors and pledges",
     "description": "Pledges that never exceed a wish's cost (R-MW-3), delivery and expiry (R-MW-4)."},
    {"name": "阳光1+1 pairings", "description": "Social organizations paired with old-area villages (R-OA-2)."},
    {"name": "families", "description": "The projection of eligibility's households (R-MW-1)."},
    {"name": "calculators", "description": "Each rule's computation with its trace; stores nothing."},
    {"name": "parameters", "description": "Versioned policy numbers: village_quota, pledge_days."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """App factory (``uvicorn --factory services.wishes.app:create_app``)."""
    return create_service_app(
        ServiceSpec(
            name="wishes",
            settings=settings or Settings(),
            routers=[board_router, campaigns_router, pledges_router, pairings_router, families_router,
                     parameters_router, kpis_router],
            handlers=handlers,
            workers=[expire_pledges],
            description="The 505 micro-wish campaign (微光成炬): public board, pledges, fulfilment, 1+1 pairings.",
            tags=TAGS,
        )
    )
