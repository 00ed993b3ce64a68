"""usernames unique ignoring case: uq_users_username_lower on lower(username)

Revision ID: 0003_username_case_insensitive
Revises: 0002_household_chain
Create Date: 2026-12-02 09:00:00

A database that already holds two usernames differing only in case (``admin`` and ``ADMIN``)
cannot take the index: the upgrade stops and names them, for an administrator to rename or
deactivate one (which of the two is the real one is not for a migration to guess).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003_username_case_insensitive'
down_revision: str | None = '0002_household_chain'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    clashes = op.get_bind().execute(sa.text(
        "SELECT string_agg(username, ', ' ORDER BY created_at) FROM users GROUP BY lower(username) HAVING count(*) > 1"
    )).scalars().all()
    if clashes:
        raise RuntimeError(
            "usernames differing only in case must be renamed before this upgrade: " + "; ".join(clashes)
        )
    op.create_index('uq_users_username_lower', 'users', [sa.text('lower(username)')], unique=True)


def downgrade() -> None:
    op.drop_index('uq_users_username_lower', table_name='users')
