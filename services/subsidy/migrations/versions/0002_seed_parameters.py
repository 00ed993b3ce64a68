"""seed the policy parameters with POLICY.md's defaults (and placeholders where it gives none)

Revision ID: subsidy_0002
Revises: subsidy_0001
Create Date: 2020-01-01

The values are written out here (not imported from the code) so this revision stays what it was
when it shipped; later changes are new versions added through the API
(``POST /api/v1/subsidy/parameters/{key}/versions``). Rows: (key, valid_from, valid_to, value).
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "subsidy_0002"
down_revision: str | None = "subsidy_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULTS = [
    ("dibao_standard", date(2019, 1, 1), date(2019, 12, 31), "600.00"),
    ("dibao_standard", date(2020, 1, 1), None, "720.00"),
    ("gradual_exit_months", date(2019, 1, 1), None, 12),
    ("gradual_exit_months_other", date(2019, 1, 1), None, 0),
    ("tekun_basic_factor", date(2019, 1, 1), None, "1.3"),
    ("tekun_care_standard", date(2019, 1, 1), None, {"self_care": "100.00", "partial_loss": "400.00", "full_loss": "800.00"}),
    ("centralized_support_fees", date(2019, 1, 1), None, {"bed": "400.00", "living": "1000.00", "nursing_self_care": "200.00", "nursing_partial_loss": "600.00", "nursing_full_loss": "1200.00"}),
    ("disability_living_subsidy", date(2019, 1, 1), None, "80.00"),
    ("disability_nursing_subsidy", date(2019, 1, 1), None, {"grade_1": "100.00", "grade_2": "80.00"}),
    ("long_term_care_months", date(2019, 1, 1), None, 6),
    ("orphan_standard", date(2020, 1, 1), None, {"institutional": "1600.00", "dispersed": "1100.00"}),
    ("orphan_growth_rate", date(2020, 1, 1), None, "0.05"),
    ("orphan_adult_age", date(2019, 1, 1), None, 18),
    ("veteran_allowance", date(2020, 1, 1), None, "900.00"),
    ("veteran_growth_rate", date(2020, 1, 1), None, "0.10"),
    ("price_cpi_trigger", date(2019, 1, 1), None, "3.5"),
    ("price_food_cpi_trigger", date(2019, 1, 1), None, "6"),
    ("price_min_amount", date(2019, 1, 1), None, "0.00"),
    ("price_multiplier", date(2019, 1, 1), date(2020, 2, 29), "1"),
    ("price_multiplier", date(2020, 3, 1), date(2020, 6, 30), "2"),
    ("price_multiplier", date(2020, 7, 1), None, "1"),
    ("price_categories", date(2019, 1, 1), date(2020, 2, 29), ["dibao", "tekun", "revolutionary_veteran"]),
    ("price_categories", date(2020, 3, 1), date(2020, 6, 30), ["dibao", "tekun", "revolutionary_veteran", "orphan", "child_without_care"]),
    ("price_categories", date(2020, 7, 1), None, ["dibao", "tekun", "revolutionary_veteran"]),
    ("price_payment_working_days", date(2019, 1, 1), None, 20),
    ("housing_tranche_ratios", date(2019, 1, 1), None, {"started": "0.30", "structure_done": "0.40", "accepted": "0.30"}),
    ("housing_target", date(2019, 1, 1), None, 50),
]


def upgrade() -> None:
    table = sa.table(
        "parameter_versions",
        sa.column("key", sa.String),
        sa.column("valid_from", sa.Date),
        sa.column("valid_to", sa.Date),
        sa.column("value", JSONB),
        sa.column("note", sa.Text),
        sa.column("created_by", sa.String),
    )
    op.bulk_insert(table, [
        {"key": key, "valid_from": valid_from, "valid_to": valid_to, "value": value,
          "note": "POLICY.md default", "created_by": "migration"}
        for key, valid_from, valid_to, value in DEFAULTS
    ])


def downgrade() -> None:
    op.execute("DELETE FROM parameter_versions WHERE created_by = 'migration'")
