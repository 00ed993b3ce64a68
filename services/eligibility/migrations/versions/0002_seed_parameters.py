"""seed the policy parameters with POLICY.md's defaults

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
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

# (R-DB-1: 600 yuan/month valid 2019, 720 from 2020-01-01; the others valid from 2019-01-01.)
ROWS = [
        {'name': 'dibao_standard', 'value': Decimal('600.00'), 'unit': 'yuan', 'rule': 'R-DB-1', 'valid_from': date(2019, 1, 1), 'valid_to': date(2019, 12, 31), 'note': 'POLICY.md default'},
        {'name': 'dibao_standard', 'value': Decimal('720.00'), 'unit': 'yuan', 'rule': 'R-DB-1', 'valid_from': date(2020, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'asset_limit_months', 'value': Decimal('24'), 'unit': 'months', 'rule': 'R-DB-3', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'edge_factor', 'value': Decimal('1.5'), 'unit': 'ratio', 'rule': 'R-DB-5', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'gradual_exit_months', 'value': Decimal('12'), 'unit': 'months', 'rule': 'R-DB-6', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'exit_months_other', 'value': Decimal('0'), 'unit': 'months', 'rule': 'R-DB-6', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'investigation_start_working_days', 'value': Decimal('3'), 'unit': 'working_days', 'rule': 'R-DB-9', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'notice_days', 'value': Decimal('7'), 'unit': 'days', 'rule': 'R-DB-9', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'decision_working_days', 'value': Decimal('10'), 'unit': 'working_days', 'rule': 'R-DB-9', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'process_working_days', 'value': Decimal('30'), 'unit': 'working_days', 'rule': 'R-DB-9', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'process_extended_working_days', 'value': Decimal('45'), 'unit': 'working_days', 'rule': 'R-DB-9', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'refusal_notice_working_days', 'value': Decimal('3'), 'unit': 'working_days', 'rule': 'R-DB-9', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'recheck_months_stable', 'value': Decimal('12'), 'unit': 'months', 'rule': 'R-DB-9', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'recheck_months_irregular', 'value': Decimal('6'), 'unit': 'months', 'rule': 'R-DB-9', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'tekun_elderly_age', 'value': Decimal('60'), 'unit': 'years', 'rule': 'R-TK-1', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'tekun_minor_age', 'value': Decimal('16'), 'unit': 'years', 'rule': 'R-TK-1', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'tekun_support_until_age', 'value': Decimal('18'), 'unit': 'years', 'rule': 'R-TK-1', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'tekun_basic_factor', 'value': Decimal('1.3'), 'unit': 'ratio', 'rule': 'R-TK-2', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'tekun_investigation_working_days', 'value': Decimal('15'), 'unit': 'working_days', 'rule': 'R-TK-1', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'tekun_notice_days', 'value': Decimal('7'), 'unit': 'days', 'rule': 'R-TK-1', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'tekun_confirmation_working_days', 'value': Decimal('15'), 'unit': 'working_days', 'rule': 'R-TK-1', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'cwc_missing_months', 'value': Decimal('6'), 'unit': 'months', 'rule': 'R-OR-2', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'expenditure_shock_ratio', 'value': Decimal('1.0'), 'unit': 'ratio', 'rule': 'R-RM-2', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'income_drop_ratio', 'value': Decimal('0.5'), 'unit': 'ratio', 'rule': 'R-RM-3', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'monitoring_line_factor', 'value': Decimal('1.5'), 'unit': 'ratio', 'rule': 'R-RM-4', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'POLICY.md default'},
        {'name': 'expenditure_relief_cap', 'value': Decimal('5000.00'), 'unit': 'yuan', 'rule': 'R-RM-5', 'valid_from': date(2019, 1, 1), 'valid_to': None, 'note': 'not in POLICY.md: the district cap of one relief case (R-TR-3)'},
]


def upgrade() -> None:
    op.bulk_insert(parameter_versions, ROWS)


def downgrade() -> None:
    op.execute(parameter_versions.delete().where(parameter_versions.c.note.in_({row["note"] for row in ROWS})))
