"""audit_log: the actor filter ignores case, as usernames do (gateway 0003)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_audit_log_actor_id", table_name="audit_log")
    op.execute("CREATE INDEX ix_audit_log_actor_lower_id ON audit_log (lower(actor), id)")


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_lower_id", table_name="audit_log")
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"])
