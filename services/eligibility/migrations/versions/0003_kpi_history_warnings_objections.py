"""benefit history for the R-DB-8 KPIs, deadline warnings, notice objections, self-care levels,
tekun minors' review day; two parameters (deadline warning, growth target)

Revision ID: 0003
Revises: 0002
Create Date: 2020-06-20
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

parameter_versions = sa.table(
    "parameter_versions",
    sa.column("name", sa.String),
    sa.column("value", sa.Numeric(18, 4)),
    sa.column("unit", sa.String),
    sa.column("rule", sa.String),
    sa.column("valid_from", sa.Date),
    sa.column("valid_to", sa.Date),
    sa.column("note", sa.Text),
)
NOTE = "POLICY.md default (0003)"
ROWS = [
    {'name': 'deadline_warning_working_days', 'value': Decimal('1'), 'unit': 'working_days', 'rule': 'R-DB-9',
     'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': NOTE},
    {'name': 'benefit_growth_target', 'value': Decimal('1.12'), 'unit': 'ratio', 'rule': 'R-DB-8',
     'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': NOTE},
]


def upgrade() -> None:
    op.create_table('application_objections',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('town', sa.String(length=9), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('objector', sa.Text(), nullable=False),
    sa.Column('objector_kind', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('resolution_reason', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_objections_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_objections'))
    )
    op.create_index('ix_application_objections_application_id', 'application_objections', ['application_id'], unique=False)
    op.create_table('benefit_periods',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('benefit_id', sa.Uuid(), nullable=False),
    sa.Column('from_month', sa.Date(), nullable=False),
    sa.Column('monthly_amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.Column('town', sa.String(length=9), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['benefit_id'], ['benefits.id'], name=op.f('fk_benefit_periods_benefit_id_benefits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_periods'))
    )
    # Benefits granted before this revision: their current figures from their first month (the
    # earlier amounts were not kept).
    op.execute(
        "INSERT INTO benefit_periods (benefit_id, from_month, monthly_amount, members, town, recorded_at) "
        "SELECT id, effective_month, monthly_amount, jsonb_array_length(members), town, created_at FROM benefits ORDER BY created_at, id"
    )
    op.add_column('application_deadlines', sa.Column('at_risk_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('application_deadlines', sa.Column('at_risk_fired_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_application_deadlines_at_risk', 'application_deadlines', ['at_risk_at'], unique=False, postgresql_where=sa.text('met_at IS NULL AND breached_at IS NULL AND at_risk_fired_at IS NULL'))
    op.add_column('benefits', sa.Column('review_on', sa.Date(), nullable=True))
    op.create_index('ix_benefits_review_on', 'benefits', ['review_on'], unique=False, postgresql_where=sa.text('review_on IS NOT NULL'))
    op.add_column('persons', sa.Column('self_care_level', sa.String(length=16), nullable=True))
    op.add_column('persons', sa.Column('self_care_assessed_on', sa.Date(), nullable=True))
    op.add_column('persons', sa.Column('self_care_assessment_id', sa.String(length=64), nullable=True))
    op.bulk_insert(parameter_versions, ROWS)


def downgrade() -> None:
    op.execute(parameter_versions.delete().where(parameter_versions.c.note == NOTE))
    op.drop_column('persons', 'self_care_assessment_id')
    op.drop_column('persons', 'self_care_assessed_on')
    op.drop_column('persons', 'self_care_level')
    op.drop_index('ix_benefits_review_on', table_name='benefits', postgresql_where=sa.text('review_on IS NOT NULL'))
    op.drop_column('benefits', 'review_on')
    op.drop_index('ix_application_deadlines_at_risk', table_name='application_deadlines', postgresql_where=sa.text('met_at IS NULL AND breached_at IS NULL AND at_risk_fired_at IS NULL'))
    op.drop_column('application_deadlines', 'at_risk_fired_at')
    op.drop_column('application_deadlines', 'at_risk_at')
    op.drop_table('benefit_periods')
    op.drop_index('ix_application_objections_application_id', table_name='application_objections')
    op.drop_table('application_objections')
