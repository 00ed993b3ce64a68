"""audit rows say who read what through which client (actor's town, client, applicant, path, request id)

Revision ID: relief_0003
Revises: relief_0002
Create Date: 2020-01-02

``principal`` becomes ``actor`` and the case's ``town`` becomes ``record_town`` (rows written
before keep their values); ``town`` is now the reader's own town, unknown for older rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "relief_0003"
down_revision: str | None = "relief_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("access_audit", "principal", new_column_name="actor")
    op.alter_column("access_audit", "town", new_column_name="record_town")
    op.add_column("access_audit", sa.Column("town", sa.String(length=9), nullable=True))
    op.add_column("access_audit", sa.Column("client", sa.String(length=200), nullable=True))
    op.add_column("access_audit", sa.Column("person_id", sa.String(length=64), nullable=True))
    op.add_column("access_audit", sa.Column("household_id", sa.String(length=64), nullable=True))
    op.add_column("access_audit", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("access_audit", sa.Column("path", sa.Text(), nullable=True))
    op.create_index("ix_access_audit_actor_id", "access_audit", ["actor", "id"], unique=False)
    op.create_index("ix_access_audit_person", "access_audit", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_access_audit_person", table_name="access_audit")
    op.drop_index("ix_access_audit_actor_id", table_name="access_audit")
    for column in ("path", "request_id", "household_id", "person_id", "client", "town"):
        op.drop_column("access_audit", column)
    op.alter_column("access_audit", "record_town", new_column_name="town")
    op.alter_column("access_audit", "actor", new_column_name="principal")
