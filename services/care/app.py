"""The care service's FastAPI app: tekun self-care and placement, dispersed support, the
left-behind registry, visits, devices and alerts, and care pilots (POLICY measures 8–11)."""

from fastapi import FastAPI

from services.care import kpis
from services.care.config import Settings
from services.care.devices.router import router as devices_router
from services.care.dispersed.router import router as dispersed_router
from services.care.handlers import handlers
from services.care.leftbehind.router import router as leftbehind_router
from services.care.parameters.router import router as parameters_router
from services.care.persons.router import audit_router
from services.care.persons.router import router as persons_router
from services.care.pilots.router import router as pilots_router
from services.care.placement.router import router as placement_router
from services.care.selfcare.router import router as selfcare_router
from services.care.selfcare.service import recompute_deadlines
from services.care.visits.router import router as visits_router
from services.care.workers import sweeper
from shared.app import ServiceSpec, create_service_app

TAGS = [
    {"name": "self-care", "description": "R-TK-2 self-care assessment (生活自理能力评估), R-TK-1 reassessment"},
    {"name": "placement", "description": "R-TK-3 care homes, waiting list, allocation, centralized rate (集中供养)"},
    {"name": "dispersed support", "description": "R-TK-5 care contracts and supervisions (分散供养)"},
    {"name": "left-behind", "description": "R-LB-1 registry of left-behind children, elderly and women (三留守)"},
    {"name": "visits", "description": "R-LB-2 / R-EP-1 visit plans, visits, volunteers (505守护)"},
    {"name": "devices", "description": "R-LB-3 monitoring devices and alerts (云守护)"},
    {"name": "pilots", "description": "R-LB-4 care pilots"},
    {"name": "persons", "description": "persons under care"},
    {"name": "parameters", "description": "versioned policy parameters"},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """App factory (``uvicorn --factory services.care.app:create_app``)."""
    return create_service_app(
        ServiceSpec(
            name="care",
            settings=settings or Settings(),
            description="Tekun self-care and placement, left-behind registry, visits, devices and alerts.",
            routers=[
                selfcare_router, persons_router, placement_router, dispersed_router, leftbehind_router,
                visits_router, devices_router, pilots_router, kpis.router, parameters_router, audit_router,
            ],
            handlers=handlers,
            workers=[sweeper],
            on_calendar_loaded=recompute_deadlines,
            tags=TAGS,
        )
    )
