"""audit_reads: the actor filter ignores case, as usernames do (gateway 0003)

Revision ID: subsidy_0004
Revises: subsidy_0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "subsidy_0004"
down_revision: str | None = "subsidy_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_audit_reads_actor", table_name="audit_reads")
    op.execute("CREATE INDEX ix_audit_reads_actor_lower_id ON audit_reads (lower(actor), id)")


def downgrade() -> None:
    op.drop_index("ix_audit_reads_actor_lower_id", table_name="audit_reads")
    op.create_index("ix_audit_reads_actor", "audit_reads", ["actor"])
