"""seed the policy parameters with POLICY.md's defaults (measure 5: R-TR-2..5)

Revision ID: relief_0002
Revises: relief_0001
Create Date: 2020-01-01

The values are written out here (not imported from the code) so this revision stays what it was
when it shipped; later changes are new versions added through the API.
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "relief_0002"
down_revision: str | None = "relief_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALID_FROM = date(2020, 1, 1)  # 泉港民〔2020〕40号, the district's 2020 measures
DEFAULTS = [
    ("town_approval_limit", Decimal("3000.00"), "yuan", "R-TR-3"),
    ("case_cap", Decimal("5000.00"), "yuan", "R-TR-3"),
    ("sla_working_days", Decimal("5"), "working_days", "R-TR-2"),
    ("at_risk_working_days", Decimal("1"), "working_days", "R-TR-2"),
    ("paperwork_working_days", Decimal("10"), "working_days", "R-TR-5"),
    ("reserve_usage_target", Decimal("0.90"), "ratio", "R-TR-4"),
]

parameters = sa.table(
    "parameters",
    sa.column("name", sa.String),
    sa.column("value", sa.Numeric),
    sa.column("unit", sa.String),
    sa.column("rule", sa.String),
    sa.column("valid_from", sa.Date),
    sa.column("valid_to", sa.Date),
    sa.column("created_by", sa.String),
)


def upgrade() -> None:
    op.bulk_insert(
        parameters,
        [
            {"name": name, "value": value, "unit": unit, "rule": rule, "valid_from": VALID_FROM,
             "valid_to": None, "created_by": "seed"}
            for name, value, unit, rule in DEFAULTS
        ],
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM parameters WHERE created_by = 'seed'"))
