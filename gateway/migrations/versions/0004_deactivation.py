"""deactivation of users and clients: users.deactivated_at, oauth_clients.deactivated_at

Revision ID: 0004_deactivation
Revises: 0003_username_case_insensitive
Create Date: 2026-12-05 09:00:00

An account already inactive gets the upgrade's time as its deactivation, so any token it still
holds is refused from then on (gateway.auth.revocation).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_deactivation'
down_revision: str | None = '0003_username_case_insensitive'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('users', 'oauth_clients'):
        op.add_column(table, sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True))
        op.execute(f"UPDATE {table} SET deactivated_at = now() WHERE NOT active")


def downgrade() -> None:
    for table in ('oauth_clients', 'users'):
        op.drop_column(table, 'deactivated_at')
