"""The relief service's FastAPI app: temporary relief (临时救助) — cases, tiered approval, town
reserve funds and the 5-working-day SLA (POLICY.md measures 5 and 8: R-TR-1..6, R-EP-1)."""

from fastapi import FastAPI

from services.relief.audit import router as audit_router
from services.relief.cases.router import router as cases_router
from services.relief.cases.service import recompute_for_year
from services.relief.cases.timers import sla_timer_worker
from services.relief.config import Settings
from services.relief.funds.router import router as funds_router
from services.relief.handlers import handlers
from services.relief.parameters.router import router as parameters_router
from services.relief.reports.router import router as reports_router
from shared.app import ServiceSpec, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    """App factory (``uvicorn --factory services.relief.app:create_app``)."""
    return create_service_app(
        ServiceSpec(
            name="relief",
            settings=settings or Settings(),
            description=(
                "Temporary relief (临时救助): cases, tiered approval, town reserve funds and the "
                "5-working-day SLA."
            ),
            routers=(funds_router, cases_router, parameters_router, reports_router, audit_router),
            handlers=handlers,
            workers=(sla_timer_worker,),
            on_calendar_loaded=recompute_for_year,
            tags=[
                {"name": "approval and reserve funds", "description": "R-TR-3 tiers, R-TR-4 reserve funds (备用金)"},
                {"name": "relief cases", "description": "R-TR-1/2/5/6, R-EP-1"},
                {"name": "calculators", "description": "what-if evaluations, storing nothing"},
                {"name": "parameters", "description": "versioned policy numbers"},
                {"name": "reports", "description": "KPIs (R-TR-2 SLA compliance, R-TR-4 usage)"},
            ],
        )
    )
