"""access_audit: the actor filter ignores case, as usernames do (gateway 0003)

Revision ID: relief_0004
Revises: relief_0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "relief_0004"
down_revision: str | None = "relief_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_access_audit_actor_id", table_name="access_audit")
    op.execute("CREATE INDEX ix_access_audit_actor_lower_id ON access_audit (lower(actor), id)")


def downgrade() -> None:
    op.drop_index("ix_access_audit_actor_lower_id", table_name="access_audit")
    op.create_index("ix_access_audit_actor_id", "access_audit", ["actor", "id"])
