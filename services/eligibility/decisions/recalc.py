"""A new dibao standard (or tekun factor) applied to every live benefit in set-based SQL.

R-DB-1 / R-DB-4: each dibao benefit keeps the net income and member count of its last assessment
(``basis_*``); its new amount is ``round(standard × members − net_income_12m / 12, 2)`` —
PostgreSQL's ``round(numeric, 2)`` rounds half away from zero, which for these positive amounts is
the half-up of :func:`services.eligibility.figures.fen_half_up` (tested against each other). A
single-person benefit (R-DB-5) is ``standard − own income / 12``; a tekun benefit (R-TK-2)
``round(factor × standard, 2)``. Orphan, child-without-care and veteran allowances are the paying
service's standard and are not touched.

One statement (data-modifying CTEs over one computation of the new amounts) writes the decisions
with their traces, updates the benefits, appends their history (``benefit_periods``) and stages
the ``eligibility.benefit.changed`` events in the outbox (the transactional outbox, written
set-based). Benefits whose household would no longer be below the standard go through the
ordinary exit rules (R-DB-6) one by one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import structlog
from sqlalchemy import select, text

from services.eligibility import events
from services.eligibility.decisions.models import Benefit
from services.eligibility.figures import add_months, month_of, month_text
from services.eligibility.parameters.service import parameters_on
from services.eligibility.registry.models import Household
from shared.db import UnitOfWork

log = structlog.get_logger("eligibility.recalc")


@dataclass
class RecalculationSummary:
    effective_month: str
    examined: int = 0
    changed: int = 0
    ended: int = 0
    gradual_exit: int = 0
    unchanged: int = 0


_CALC = """
    SELECT b.id, b.household_id, b.person_id, b.town, b.village, b.category, b.members, b.rule,
           b.amount_basis, b.monthly_amount AS previous_amount, b.basis_members, b.basis_net_income_12m,
           GREATEST(b.effective_month, CAST(:month AS date)) AS effective_month,
           CAST(CASE WHEN b.category = 'tekun' THEN round(CAST(:factor AS numeric) * CAST(:standard AS numeric), 2)
                ELSE round(CAST(:standard AS numeric) * b.basis_members - b.basis_net_income_12m / 12, 2)
           END AS numeric(14, 2)) AS new_amount,
           (b.category = 'tekun' OR CAST(:standard AS numeric) * b.basis_members * 12 > b.basis_net_income_12m) AS still_eligible
    FROM benefits b
    WHERE b.status = 'active' AND b.amount_basis = 'rule'
      AND b.category IN ('dibao', 'dibao_single_person', 'tekun')
"""

_RULES = """CASE WHEN m.category = 'tekun' THEN '["R-TK-2"]'::jsonb
                  WHEN m.category = 'dibao' THEN '["R-DB-1", "R-DB-4"]'::jsonb
                  ELSE '["R-DB-1", "R-DB-5"]'::jsonb END"""

# One statement: the new amounts are computed once (``calc``); the changed ones get a decision,
# their update and their outbox event; the counts and the benefits leaving come back.
_APPLY = text(
    f"""
    WITH k AS MATERIALIZED (
        SELECT CAST(:parameters AS jsonb) AS parameters, CAST(:standard_text AS text) AS standard_text,
               CAST(:reason AS text) AS reason, CAST(:actor AS text) AS actor, CAST(:now AS timestamptz) AS now,
               CAST(:as_of AS date) AS as_of, CAST(:event_type AS text) AS event_type, CAST(:source AS text) AS source,
               CAST(:time AS text) AS time, CAST(:correlation_id AS text) AS correlation_id
    ),
    calc AS MATERIALIZED ({_CALC}),
    moved AS MATERIALIZED (
        SELECT c.*, gen_random_uuid() AS decision_id, gen_random_uuid() AS event_id
        FROM calc c WHERE c.still_eligible AND c.new_amount <> c.previous_amount
    ),
    decided AS (
        INSERT INTO decisions (id, household_id, person_id, town, category, kind, outcome, assessed_on, effective_month,
                               monthly_amount, benefit_id, rules, trace, decided_by, note, created_at)
        SELECT m.decision_id, m.household_id, m.person_id, m.town, m.category, 'standard_change', 'eligible',
               k.as_of, m.effective_month, m.new_amount, m.id, {_RULES},
               jsonb_build_object(
                   'rules', {_RULES},
                   'inputs', jsonb_build_object(
                       'members', m.basis_members,
                       'net_income_12m', CAST(CAST(m.basis_net_income_12m AS numeric(18, 2)) AS text),
                       'basis', 'figures of the last assessment; only the standard changed'),
                   'parameters', k.parameters,
                   'figures', jsonb_build_object(
                       'standard', k.standard_text,
                       'previous_amount', CAST(m.previous_amount AS text),
                       'monthly_benefit', CAST(m.new_amount AS text),
                       'effective_month', to_char(m.effective_month, 'YYYY-MM')),
                   'reasons', jsonb_build_array(k.reason),
                   'outcome', 'eligible'),
               k.actor, k.reason, k.now
        FROM moved m CROSS JOIN k
    ),
    updated AS (
        UPDATE benefits b
        SET monthly_amount = m.new_amount, decision_id = m.decision_id, updated_at = k.now
        FROM moved m CROSS JOIN k
        WHERE b.id = m.id
    ),
    history AS (
        INSERT INTO benefit_periods (benefit_id, from_month, monthly_amount, members, town, recorded_at)
        SELECT m.id, m.effective_month, m.new_amount, jsonb_array_length(m.members), m.town, k.now
        FROM moved m CROSS JOIN k
    ),
    staged AS (
        INSERT INTO outbox_events (event_id, event_type, envelope, created_at, attempts)
        SELECT CAST(m.event_id AS text), k.event_type,
               jsonb_strip_nulls(jsonb_build_object(
                   'specversion', '1.0',
                   'id', CAST(m.event_id AS text),
                   'source', k.source,
                   'type', k.event_type,
                   'time', k.time,
                   'subject', CAST(m.id AS text),
                   'datacontenttype', 'application/json',
                   'correlationid', k.correlation_id)) ||
               jsonb_build_object('data', jsonb_build_object(
                   'benefit_id', CAST(m.id AS text),
                   'household_id', CAST(m.household_id AS text),
                   'person_id', CAST(m.person_id AS text),
                   'category', m.category,
                   'monthly_amount', CAST(m.new_amount AS text),
                   'effective_month', to_char(m.effective_month, 'YYYY-MM'),
                   'members', m.members,
                   'town', m.town,
                   'village', m.village,
                   'decision_id', CAST(m.decision_id AS text),
                   'rule', m.rule,
                   'amount_basis', m.amount_basis,
                   'status', 'active',
                   'gradual_exit_until', NULL,
                   'previous_amount', CAST(m.previous_amount AS text),
                   'change_reason', 'standard_change')),
               now(), 0
        FROM moved m CROSS JOIN k
        ORDER BY m.id
    )
    SELECT count(*) AS examined,
           count(*) FILTER (WHERE still_eligible AND new_amount <> previous_amount) AS changed,
           count(*) FILTER (WHERE still_eligible AND new_amount = previous_amount) AS unchanged,
           COALESCE(array_agg(id ORDER BY id) FILTER (WHERE NOT still_eligible), '{{}}') AS leaving
    FROM calc
    """
)


async def apply_standard_change(*, uow: UnitOfWork, as_of: date, actor: str, reason: str) -> RecalculationSummary:
    """Recalculate every live benefit whose amount follows the dibao standard as of ``as_of``.

    Changes take effect from the month of ``as_of`` (or a benefit's own start if later). A dibao
    household no longer below the new standard exits by R-DB-6 (registered-poor: gradual exit of
    ``gradual_exit_months``; others: ``exit_months_other``). Returns the counts.
    """
    session = uow.session
    params = await parameters_on(session, as_of)
    standard = params["dibao_standard"]
    factor = params["tekun_basic_factor"]
    month = month_of(as_of)
    now = uow.now()
    summary = RecalculationSummary(effective_month=month_text(month))
    await session.flush()
    # Room for the statement's sorts and CTEs in memory (this transaction only).
    await session.execute(text("SET LOCAL work_mem = '256MB'"))
    row = (await session.execute(_APPLY, {
        "month": month, "factor": factor, "standard": standard, "as_of": as_of, "now": now,
        "parameters": json.dumps(params.used()),
        "standard_text": format(standard.quantize(Decimal("0.01")), "f"),
        "actor": actor, "reason": reason,
        "event_type": events.BENEFIT_CHANGED, "source": uow.source, "time": now.isoformat(),
        "correlation_id": uow.correlation_id,
    })).one()
    summary.examined, summary.changed, summary.unchanged = int(row.examined), int(row.changed), int(row.unchanged)
    if row.leaving:
        await _exits(uow, list(row.leaving), as_of, actor, summary)
    log.info("eligibility.standard.recalculated", effective_month=summary.effective_month, examined=summary.examined,
             changed=summary.changed, ended=summary.ended, gradual_exit=summary.gradual_exit)
    return summary


async def _exits(uow: UnitOfWork, benefit_ids: list, as_of: date, actor: str, summary: RecalculationSummary) -> None:  # noqa: ANN001
    """R-DB-6 for benefits the new standard no longer supports."""
    from services.eligibility.decisions.service import change, end, new_decision

    session = uow.session
    params = await parameters_on(session, as_of)
    month = month_of(as_of)
    benefits = (await session.scalars(select(Benefit).where(Benefit.id.in_(benefit_ids)).with_for_update())).all()
    for benefit in benefits:
        household = await session.get(Household, benefit.household_id)
        assert household is not None
        gradual = benefit.category == "dibao" and household.registered_poor
        months = params.integer("gradual_exit_months" if gradual else "exit_months_other")
        last = add_months(month, months)
        outcome = "gradual_exit" if gradual and months > 0 else "exit"
        decision = new_decision(
            uow, household=household, category=benefit.category, kind="standard_change", outcome=outcome,
            assessed_on=as_of, amount=benefit.monthly_amount if outcome == "gradual_exit" else Decimal("0.00"),
            rule_ids=("R-DB-1", "R-DB-4", "R-DB-6"), decided_by=actor,
            person_id=benefit.person_id if benefit.category != "dibao" else None,
            effective_month=month,
            trace={"rules": ["R-DB-1", "R-DB-4", "R-DB-6"],
                   "inputs": {"members": benefit.basis_members, "net_income_12m": format(benefit.basis_net_income_12m.quantize(Decimal("0.01")), "f"),
                              "registered_poor": household.registered_poor},
                   "parameters": params.used(), "figures": {"last_month": month_text(last)},
                   "reasons": ["per_capita_income_not_below_standard"], "outcome": outcome},
        )
        if outcome == "gradual_exit":
            change(uow, benefit, decision=decision, reason="gradual_exit_started", effective_month=month,
                   status="gradual_exit", gradual_exit_until=last)
            summary.gradual_exit += 1
        else:
            end(uow, benefit, last_month=last, reason="income_above_standard", decision=decision)
            summary.ended += 1
