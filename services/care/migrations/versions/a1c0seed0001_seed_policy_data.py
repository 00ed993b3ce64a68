"""Seed the care service's policy parameters, the five rural happiness homes and the two pilots.

Parameters: POLICY.md's defaults (and the marked local defaults of services/care/parameters/
catalogue.py), each a first version valid from 2000-01-01; later versions come through the API.
Homes: the seed (泉港民〔2020〕40号, measure 9) speaks of five rural happiness homes (5所农村幸福院)
with nursing beds being added but names none, so the names, villages and bed counts below are
placeholders an administrator corrects through ``PATCH /api/v1/care/homes/{id}``.
Pilots: the two the seed names (measure 11).

Revision ID: a1c0seed0001
Revises: 37f3724b3e20
"""

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "a1c0seed0001"
down_revision: str | None = "37f3724b3e20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALID_FROM = date(2000, 1, 1)
PARAMETERS = [
    ("reassessment_working_days", "10"),
    ("centralized_rate_target", "0.50"),
    ("supervision_period_months", "3"),
    ("visit_interval_days.left_behind_child", "30"),
    ("visit_interval_days.left_behind_elderly", "30"),
    ("visit_interval_days.left_behind_woman", "60"),
    ("visit_interval_days.dependent_elderly", "14"),
    ("visit_interval_days.mental_disorder_family", "30"),
    ("alert_ack_minutes", "30"),
    ("left_behind_child_max_age", "16"),
    ("left_behind_elderly_min_age", "60"),
    ("left_behind_absence_months", "6"),
]
HOMES = [
    ("7d1f0c2e-5a01-4b8e-9c11-000000000001", "南埔镇沙格村农村幸福院", "350505100", "350505100002", 30, 10),
    ("7d1f0c2e-5a01-4b8e-9c11-000000000002", "界山镇东山村农村幸福院", "350505101", "350505101002", 24, 8),
    ("7d1f0c2e-5a01-4b8e-9c11-000000000003", "后龙镇土楼村农村幸福院", "350505102", "350505102003", 20, 6),
    ("7d1f0c2e-5a01-4b8e-9c11-000000000004", "峰尾镇诚平村农村幸福院", "350505103", "350505103002", 26, 8),
    ("7d1f0c2e-5a01-4b8e-9c11-000000000005", "涂岭镇樟脚村农村幸福院", "350505106", "350505106002", 20, 6),
]
PROGRAMMES = [
    ("7d1f0c2e-5a01-4b8e-9c12-000000000001", "severe-disability-care", "贫困重度残疾人照护服务试点",
     "severe_disability_care", None, None, None),
    ("7d1f0c2e-5a01-4b8e-9c12-000000000002", "jinta-mental-health-rehab", "山腰街道锦塔社区精神障碍社区康复服务试点",
     "mental_health_rehab", "350505001", None, "锦塔社区"),
]


def upgrade() -> None:
    parameters = sa.table(
        "parameter_versions", sa.column("key", sa.String), sa.column("value", sa.Numeric), sa.column("valid_from", sa.Date),
        sa.column("note", sa.String), sa.column("created_by", sa.String),
    )
    op.bulk_insert(parameters, [
        {"key": k, "value": Decimal(v), "valid_from": VALID_FROM, "note": "default (POLICY.md)", "created_by": "migration"}
        for k, v in PARAMETERS
    ])
    homes = sa.table(
        "care_homes", sa.column("id", sa.Uuid), sa.column("name", sa.String), sa.column("kind", sa.String),
        sa.column("town", sa.String), sa.column("village", sa.String), sa.column("beds", sa.Integer),
        sa.column("nursing_beds", sa.Integer), sa.column("active", sa.Boolean),
    )
    op.bulk_insert(homes, [
        {"id": uuid.UUID(i), "name": n, "kind": "rural_happiness_home", "town": t, "village": v, "beds": b,
         "nursing_beds": nb, "active": True}
        for i, n, t, v, b, nb in HOMES
    ])
    programmes = sa.table(
        "programmes", sa.column("id", sa.Uuid), sa.column("code", sa.String), sa.column("name", sa.String),
        sa.column("kind", sa.String), sa.column("town", sa.String), sa.column("village", sa.String),
        sa.column("area_note", sa.String), sa.column("starts_on", sa.Date),
    )
    op.bulk_insert(programmes, [
        {"id": uuid.UUID(i), "code": c, "name": n, "kind": k, "town": t, "village": v, "area_note": a,
         "starts_on": date(2020, 1, 1)}
        for i, c, n, k, t, v, a in PROGRAMMES
    ])


def downgrade() -> None:
    op.execute("DELETE FROM programmes WHERE id IN (%s)" % ", ".join(f"'{p[0]}'" for p in PROGRAMMES))
    op.execute("DELETE FROM care_homes WHERE id IN (%s)" % ", ".join(f"'{h[0]}'" for h in HOMES))
    op.execute("DELETE FROM parameter_versions WHERE created_by = 'migration'")
