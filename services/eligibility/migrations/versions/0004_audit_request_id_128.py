"""audit_log.request_id as wide as the request ids the middleware keeps (128 characters)

A caller's X-Request-ID of 101–128 plain characters is kept by shared.http's request middleware
and was then too long for the 100-character column: the audited read failed (422).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("audit_log", "request_id", type_=sa.String(128), existing_type=sa.String(100),
                    existing_nullable=True)


def downgrade() -> None:
    # Ids longer than 100 characters are cut to fit.
    op.execute("UPDATE audit_log SET request_id = left(request_id, 100) WHERE length(request_id) > 100")
    op.alter_column("audit_log", "request_id", type_=sa.String(100), existing_type=sa.String(128),
                    existing_nullable=True)
