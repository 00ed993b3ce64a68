"""Safe-housing use cases (低保安居工程, R-HS-1): projects, milestones with their tranches, KPI."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import func, select

from services.subsidy.common import format_month
from services.subsidy.housing import rules
from services.subsidy.housing.models import HousingMilestone, HousingProject
from services.subsidy.parameters.service import params_on
from services.subsidy.roster.models import RosterBenefit
from shared.auth import Principal
from shared.clock import local_today
from shared.db import UnitOfWork
from shared.errors import Problem, not_found
from shared.regions import UnknownRegion, town as town_of, village as village_of

log = structlog.get_logger("subsidy.housing")


async def create_project(
    *, uow: UnitOfWork, principal: Principal, household_id: str, person_id: str, town: str, village: str | None,
    subsidy: Decimal, planned_on: date, description: str | None,
) -> HousingProject:
    """Register a safe-housing project for a rural dibao or tekun household (R-HS-1).

    Errors: 422 ``unknown_town`` / ``unknown_village``; 404 for another town's household (town
    users); 422 ``not_dibao_or_tekun`` (no dibao or tekun benefit of the household on the roster);
    409 ``project_exists`` (one project per household).
    """
    try:
        town_of(town)
        if village is not None and village_of(village).parent_code != town:
            raise UnknownRegion("unknown_village", village)
    except UnknownRegion as exc:
        raise Problem(422, exc.code, exc.message) from None
    principal.ensure_town(town, "household")
    today = local_today(uow.clock)
    month = today.replace(day=1)
    covered = await uow.session.scalar(
        select(func.count()).select_from(RosterBenefit).where(
            RosterBenefit.household_id == household_id,
            RosterBenefit.category.in_(("dibao", "dibao_single_person", "tekun")),
            (RosterBenefit.last_month.is_(None)) | (RosterBenefit.last_month >= month),
        )
    )
    if not covered:
        raise Problem(422, "not_dibao_or_tekun", "Safe housing is for dibao or tekun households (R-HS-1); the roster has no such benefit for this household")
    existing = await uow.session.scalar(select(HousingProject.id).where(HousingProject.household_id == household_id))
    if existing is not None:
        raise Problem(409, "project_exists", "This household already has a safe-housing project", project_id=str(existing))
    now = uow.now()
    project = HousingProject(
        id=uuid.uuid4(), household_id=household_id, person_id=person_id, town=town, village=village, subsidy=subsidy,
        stage="planned", description=description, planned_on=planned_on, created_at=now, created_by=principal.subject,
        updated_at=now,
    )
    uow.session.add(project)
    await uow.session.flush()
    uow.emit("subsidy.housing.project_created", {
        "project_id": project.id, "household_id": household_id, "town": town, "village": village,
        "subsidy": f"{subsidy:.2f}",
    }, subject=str(project.id))
    log.info("subsidy.housing.project_created", project_id=str(project.id))
    return project


async def get_project(uow: UnitOfWork, project_id: uuid.UUID, principal: Principal, *, lock: bool = False) -> HousingProject:
    project = await uow.session.get(HousingProject, project_id, with_for_update=lock)
    if project is None:
        raise not_found("housing project")
    principal.ensure_town(project.town, "housing project")
    return project


async def milestones(uow: UnitOfWork, project_id: uuid.UUID) -> list[HousingMilestone]:
    return list((await uow.session.scalars(
        select(HousingMilestone).where(HousingMilestone.project_id == project_id).order_by(HousingMilestone.id)
    )).all())


async def reach_milestone(*, uow: UnitOfWork, principal: Principal, project_id: uuid.UUID, milestone: str, reached_on: date) -> HousingMilestone:
    """Record that a project reached ``milestone`` on ``reached_on`` (R-HS-1): in order, once; its
    tranche (ratio in force that day × the subsidy; the last one the remainder) is paid by the
    ``housing`` run of that month or later. Errors: 404, 409 ``milestone_out_of_order`` /
    ``project_complete``, 422 ``reached_in_future``. Emits ``subsidy.housing.milestone_reached``."""
    project = await get_project(uow, project_id, principal, lock=True)
    if reached_on > local_today(uow.clock):
        raise Problem(422, "reached_in_future", "A milestone cannot be reached in the future")
    try:
        rules.check_milestone(project.stage, milestone)
    except rules.MilestoneError as exc:
        raise Problem(409, exc.code, str(exc), stage=project.stage) from None
    params = await params_on(uow.session, reached_on)
    ratios = params.get("housing_tranche_ratios")
    amount = rules.tranche_amount(subsidy=project.subsidy, ratios=ratios.value, milestone=milestone)
    now = uow.now()
    row = HousingMilestone(
        project_id=project.id, milestone=milestone, reached_on=reached_on, month=reached_on.replace(day=1),
        amount=amount, ratio=ratios.value[milestone], parameter_version_id=ratios.version_id,
        recorded_by=principal.subject, recorded_at=now,
    )
    uow.session.add(row)
    project.stage, project.updated_at = milestone, now
    await uow.session.flush()
    uow.emit("subsidy.housing.milestone_reached", {
        "project_id": project.id, "household_id": project.household_id, "town": project.town,
        "milestone": milestone, "reached_on": reached_on, "month": format_month(row.month), "tranche": f"{amount:.2f}",
        "accepted": milestone == "accepted",
    }, subject=str(project.id))
    log.info("subsidy.housing.milestone_reached", project_id=str(project.id), milestone=milestone)
    return row


async def kpi(*, uow: UnitOfWork, town: str | None) -> dict[str, Any]:
    """R-HS-1 KPI: projects by stage, accepted against the target (district-wide target)."""
    query = select(HousingProject.stage, func.count()).group_by(HousingProject.stage)
    if town:
        query = query.where(HousingProject.town == town)
    by_stage = {stage: 0 for stage in rules.STAGES} | {s: int(n) for s, n in (await uow.session.execute(query)).all()}
    params = await params_on(uow.session, local_today(uow.clock))
    target = params.get("housing_target")
    result = rules.HousingKpi(accepted=by_stage["accepted"], target=target.value)
    return {"town": town, "by_stage": by_stage, "accepted": result.accepted, "target": result.target,
            "rate": result.rate, "met": result.met, "parameters": params.trace()}
