"""The eligibility service's FastAPI app: the registry, decisions, monitoring and the other
departments' data (POLICY.md measures 1–4 and 9)."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.eligibility.config import Settings
from services.eligibility.decisions.router import calculators as calculator_router
from services.eligibility.decisions.router import router as decisions_router
from services.eligibility.departments.router import router as departments_router
from services.eligibility.handlers import handlers
from services.eligibility.kpis.router import router as kpis_router
from services.eligibility.monitoring.router import router as monitoring_router
from services.eligibility.parameters.router import router as parameters_router
from services.eligibility.registry.bulk import router as bulk_router
from services.eligibility.registry.router import router as registry_router
from services.eligibility.workers import deadline_worker, gradual_exit_worker, monitoring_sweep, tekun_review_worker
from services.eligibility.workflow.router import router as workflow_router
from services.eligibility.workflow.service import recompute_deadlines
from services.eligibility.parameters.rules import MissingParameter
from shared.app import ServiceSpec, create_service_app
from shared.errors import Problem, problem_response

TAGS = [
    {"name": "calculators", "description": "Policy calculators (`…:evaluate`): inputs in, result with its trace out; nothing stored."},
    {"name": "registry", "description": "Households and members (one person, one record), incomes, expenditure, assets, history."},
    {"name": "decisions", "description": "Dibao, tekun and allowance decisions with their traces; the benefits they grant."},
    {"name": "applications", "description": "The R-DB-9 / R-TK-1 workflow with its working-day deadlines."},
    {"name": "monitoring", "description": "Return-to-poverty monitoring (R-RM): risk assessments and referrals."},
    {"name": "departments", "description": "Batches from other departments: deaths, moves, disability certificates, medical expenses, income data."},
    {"name": "parameters", "description": "Versioned policy parameters (POLICY.md defaults seeded)."},
    {"name": "audit", "description": "The log of staff reads of persons' records."},
    {"name": "towns", "description": "Towns' registered population and dibao coverage (R-DB-8)."},
    {"name": "kpis", "description": "R-DB-8 KPIs per town and district: dibao coverage and per-capita benefit growth."},
]


def _problems(app: FastAPI) -> None:
    """A computation for a date no parameter version covers is the caller's 422, wherever it
    happens (calculators, approvals, reassessments)."""

    @app.exception_handler(MissingParameter)
    async def _missing_parameter(request: Request, exc: MissingParameter) -> JSONResponse:
        return problem_response(Problem(422, "parameter_missing", str(exc), parameter=exc.name), request)


def create_app(settings: Settings | None = None) -> FastAPI:
    """App factory (``uvicorn --factory services.eligibility.app:create_app``)."""
    return create_service_app(
        ServiceSpec(
            name="eligibility",
            settings=settings or Settings(),
            description="Household registry, income assessment, dibao (低保) / tekun (特困) decisions and return-to-poverty monitoring.",
            # bulk first: its literal ``/households:bulk`` must win over ``/households/{id}``.
            routers=[calculator_router, bulk_router, registry_router, decisions_router, workflow_router, monitoring_router,
                     departments_router, parameters_router, kpis_router],
            handlers=handlers,
            workers=[monitoring_sweep, gradual_exit_worker, deadline_worker, tekun_review_worker],
            on_calendar_loaded=recompute_deadlines,
            extra_setup=_problems,
            tags=TAGS,
        )
    )
