"""lifting a user's sign-in lock: users.unlocked_at, users.unlocked_by

Revision ID: 0005_sign_in_unlock
Revises: 0004_deactivation
Create Date: 2026-12-08 09:00:00

The last unlock of a user by an administrator and the administrator's subject: every gateway
replica forgets the user's failed sign-ins counted before it (gateway.ratelimit.LoginFailures).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_sign_in_unlock'
down_revision: str | None = '0004_deactivation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('users', sa.Column('unlocked_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('unlocked_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'unlocked_by')
    op.drop_column('users', 'unlocked_at')
