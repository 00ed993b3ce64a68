"""``/api/v1/subsidy/housing-projects``: safe-housing projects (低保安居工程, R-HS-1)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from services.subsidy.common import Trace
from services.subsidy.housing import rules, service
from services.subsidy.housing.models import HousingProject
from services.subsidy.housing.schemas import (
    HousingKpiOut,
    MilestoneIn,
    MilestoneOut,
    ProjectCreate,
    ProjectOut,
    TranchesEvaluateIn,
    TranchesEvaluateOut,
)
from services.subsidy.parameters.service import params_on
from shared.app import get_uow
from shared.auth import (
    AUDITOR,
    DISTRICT_ADMIN,
    DISTRICT_APPROVER,
    STAFF_ROLES,
    TOWN_APPROVER,
    TOWN_CASEWORKER,
    Principal,
    authenticated,
    require_roles,
)
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/api/v1/subsidy", tags=["safe housing"])

WRITERS = (DISTRICT_ADMIN, TOWN_APPROVER, TOWN_CASEWORKER)
READERS = (DISTRICT_ADMIN, DISTRICT_APPROVER, AUDITOR, TOWN_APPROVER, TOWN_CASEWORKER)


async def _out(uow: UnitOfWork, project: HousingProject) -> ProjectOut:
    rows = await service.milestones(uow, project.id)
    return ProjectOut(
        id=project.id, household_id=project.household_id, person_id=project.person_id, town=project.town,
        village=project.village, subsidy=project.subsidy, stage=project.stage, planned_on=project.planned_on,
        description=project.description, created_at=project.created_at, created_by=project.created_by,
        milestones=[MilestoneOut.model_validate(r) for r in rows],
    )


@router.post("/housing-projects", response_model=ProjectOut, status_code=201)
async def create_project(body: ProjectCreate, uow: UnitOfWork = Depends(get_uow),
                         principal: Principal = Depends(require_roles(*WRITERS))) -> ProjectOut:
    """Register a project (stage ``planned``) for a dibao or tekun household; town staff for their
    own town. Errors: see ``service.create_project``."""
    async with uow:
        project = await service.create_project(
            uow=uow, principal=principal, household_id=body.household_id, person_id=body.person_id, town=body.town,
            village=body.village, subsidy=body.subsidy, planned_on=body.planned_on, description=body.description,
        )
        out = await _out(uow, project)
        await uow.commit()
    return out


@router.get("/housing-projects", response_model=Page[ProjectOut])
async def list_projects(
    town: str | None = Query(None, pattern=r"^\d{9}$"),
    stage: str | None = Query(None, pattern="^(planned|started|structure_done|accepted)$"),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
    principal: Principal = Depends(require_roles(*READERS)),
) -> Page[ProjectOut]:
    """Projects (oldest first); a town user sees its own town's."""
    if not principal.district_wide:
        town = principal.town
    async with uow:
        query = select(HousingProject)
        if town:
            query = query.where(HousingProject.town == town)
        if stage:
            query = query.where(HousingProject.stage == stage)
        if page.after:
            query = query.where(HousingProject.id > uuid.UUID(str(page.after[0])))
        projects = (await uow.session.scalars(query.order_by(HousingProject.id).limit(page.limit + 1))).all()
        items = [await _out(uow, p) for p in projects]
    return make_page(items, page.limit, key=lambda p: [str(p.id)])


@router.get("/housing-projects/kpi", response_model=HousingKpiOut)
async def housing_kpi(town: str | None = Query(None, pattern=r"^\d{9}$"), uow: UnitOfWork = Depends(get_uow),
                      principal: Principal = Depends(require_roles(*STAFF_ROLES))) -> HousingKpiOut:
    """R-HS-1 KPI: projects by stage and accepted against the target of 50 (parameter)."""
    if town and not principal.district_wide:
        principal.ensure_town(town, "town")
    async with uow:
        return HousingKpiOut(**await service.kpi(uow=uow, town=town))


@router.get("/housing-projects/{project_id}", response_model=ProjectOut)
async def get_project(project_id: uuid.UUID, uow: UnitOfWork = Depends(get_uow),
                      principal: Principal = Depends(require_roles(*READERS))) -> ProjectOut:
    """One project with its milestones and tranches; another town's is 404 for a town user."""
    async with uow:
        return await _out(uow, await service.get_project(uow, project_id, principal))


@router.post("/housing-projects/{project_id}/milestones", response_model=ProjectOut, status_code=201)
async def reach_milestone(project_id: uuid.UUID, body: MilestoneIn, uow: UnitOfWork = Depends(get_uow),
                          principal: Principal = Depends(require_roles(DISTRICT_ADMIN, TOWN_APPROVER))) -> ProjectOut:
    """Record a milestone (started → structure_done → accepted, in order) and its tranche, paid by
    the next ``housing`` run. Errors: see ``service.reach_milestone``."""
    async with uow:
        await service.reach_milestone(uow=uow, principal=principal, project_id=project_id,
                                      milestone=body.milestone, reached_on=body.reached_on)
        project = await service.get_project(uow, project_id, principal)
        out = await _out(uow, project)
        await uow.commit()
    return out


@router.post("/housing-tranches:evaluate", response_model=TranchesEvaluateOut)
async def evaluate_tranches(body: TranchesEvaluateIn, uow: UnitOfWork = Depends(get_uow),
                            _: Principal = Depends(authenticated)) -> TranchesEvaluateOut:
    """The tranches of a housing subsidy (R-HS-1): yuan per milestone (30/40/30% by default, the
    last the remainder so they add up exactly). Stores nothing."""
    async with uow:
        day = body.on or local_today(uow.clock)
        params = await params_on(uow.session, day)
        ratios = params.value("housing_tranche_ratios")
    tranches = {m: rules.tranche_amount(subsidy=body.subsidy, ratios=ratios, milestone=m) for m in rules.PAID_MILESTONES}
    trace = Trace(rule_ids=["R-HS-1"], inputs=body.model_dump(mode="json"), parameters=params.trace(),
                  figures={m: f"{v:.2f}" for m, v in tranches.items()})
    return TranchesEvaluateOut(tranches=tranches, trace=trace.as_dict())
