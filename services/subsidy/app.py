"""The subsidy service's FastAPI app: rosters, monthly payment runs, cross-checks, bank files and
returns, price subsidy, disability subsidies, orphan and veteran allowances, housing tranches."""

import asyncio
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.subsidy.audit import router as audit_router
from services.subsidy.benefits.router import router as benefits_router
from services.subsidy.config import Settings
from services.subsidy.disability.router import router as disability_router
from services.subsidy.housing.router import router as housing_router
from services.subsidy.parameters.router import router as parameters_router
from services.subsidy.price.router import router as price_router
from services.subsidy.price.schemas import CpiIntakeIn
from services.subsidy.roster import handlers as roster_handlers
from services.subsidy.roster.router import homes_router
from services.subsidy.roster.router import router as roster_router
from services.subsidy.runs.router import router as runs_router
from services.subsidy.runs.schemas import BankReturnIn
from services.subsidy.runs.worker import run_worker
from shared.app import ServiceSpec, create_service_app
from shared.events import EventHandlers


def _setup(app: FastAPI) -> None:
    app.state.run_wakeup = asyncio.Event()


# Bodies read by hand (JSON or CSV) and declared in the routes' openapi_extra by $ref: FastAPI only
# lists the models of declared parameters among the components, so these are added to them.
_BODY_MODELS: tuple[type[BaseModel], ...] = (CpiIntakeIn, BankReturnIn)


def _with_body_schemas(app: FastAPI) -> FastAPI:
    """``app`` whose OpenAPI document defines :data:`_BODY_MODELS` (and the models they use)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            _, defs = models_json_schema([(m, "validation") for m in _BODY_MODELS],
                                         ref_template="#/components/schemas/{model}")
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in defs.get("$defs", {}).items():
                schemas.setdefault(name, schema)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    """App factory (``uvicorn --factory services.subsidy.app:create_app``)."""
    handlers = EventHandlers()
    roster_handlers.register(handlers)
    return _with_body_schemas(create_service_app(
        ServiceSpec(
            name="subsidy",
            settings=settings or Settings(),
            description="Recurring benefits: rosters, monthly payment runs, cross-checks, bank files and returns.",
            routers=[
                runs_router, price_router, disability_router, benefits_router, housing_router, roster_router,
                homes_router, parameters_router, audit_router,
            ],
            handlers=handlers,
            workers=[run_worker],
            extra_setup=_setup,
            tags=[
                {"name": "payment runs", "description": "Monthly runs: snapshot, cross-check (R-DS-2), approval, bank file, returns (R-DS-3)."},
                {"name": "price subsidy", "description": "Price-linked temporary subsidy (R-PS)."},
                {"name": "disability subsidies", "description": "Disability two subsidies (R-DS-1/2)."},
                {"name": "benefit amounts", "description": "Monthly amounts: dibao (R-DB-4..6), tekun (R-TK-2/4), orphans (R-OR), veterans (R-OA-1)."},
                {"name": "safe housing", "description": "Safe-housing projects and tranches (R-HS-1)."},
                {"name": "roster", "description": "The projection of current benefits built from events."},
                {"name": "parameters", "description": "Versioned policy parameters."},
            ],
        )
    ))
