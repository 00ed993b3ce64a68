"""audit rows say who read which person through which client (town, client, record, path, request id)

Revision ID: subsidy_0003
Revises: subsidy_0002
Create Date: 2020-01-02

``principal`` becomes ``actor`` (rows written before keep their values; their new columns stay
empty).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "subsidy_0003"
down_revision: str | None = "subsidy_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("audit_reads", "principal", new_column_name="actor")
    op.execute("ALTER INDEX ix_audit_reads_principal RENAME TO ix_audit_reads_actor")
    op.add_column("audit_reads", sa.Column("town", sa.String(length=9), nullable=True))
    op.add_column("audit_reads", sa.Column("client", sa.String(length=200), nullable=True))
    op.add_column("audit_reads", sa.Column("record_type", sa.String(length=20), nullable=True))
    op.add_column("audit_reads", sa.Column("record_id", sa.String(length=64), nullable=True))
    op.add_column("audit_reads", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("audit_reads", sa.Column("path", sa.Text(), nullable=True))
    op.create_index(op.f("ix_audit_reads_record_id"), "audit_reads", ["record_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_reads_record_id"), table_name="audit_reads")
    for column in ("path", "request_id", "record_id", "record_type", "client", "town"):
        op.drop_column("audit_reads", column)
    op.execute("ALTER INDEX ix_audit_reads_actor RENAME TO ix_audit_reads_principal")
    op.alter_column("audit_reads", "actor", new_column_name="principal")
