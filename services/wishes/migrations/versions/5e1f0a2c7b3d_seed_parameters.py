"""seed parameters: POLICY.md measure 14 defaults (village_quota 5, R-MW-1; pledge_days 30, R-MW-4)

Revision ID: 5e1f0a2c7b3d
Revises: 1298016bd756
Create Date: 2020-06-01
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "5e1f0a2c7b3d"
down_revision: str | None = "1298016bd756"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_parameters = sa.table(
    "parameters",
    sa.column("name", sa.String),
    sa.column("value", sa.String),
    sa.column("rule", sa.String),
    sa.column("valid_from", sa.Date),
    sa.column("valid_to", sa.Date),
    sa.column("created_by", sa.String),
)

# In force from the start of the 2020 work plan that set up the "505" campaign (微光成炬).
DEFAULTS = [
    {"name": "village_quota", "value": "5", "rule": "R-MW-1", "valid_from": date(2020, 1, 1), "valid_to": None,
     "created_by": "migration"},
    {"name": "pledge_days", "value": "30", "rule": "R-MW-4", "valid_from": date(2020, 1, 1), "valid_to": None,
     "created_by": "migration"},
]


def upgrade() -> None:
    op.bulk_insert(_parameters, DEFAULTS)


def downgrade() -> None:
    op.execute(
        _parameters.delete().where(
            sa.and_(_parameters.c.created_by == "migration", _parameters.c.valid_from == date(2020, 1, 1))
        )
    )
