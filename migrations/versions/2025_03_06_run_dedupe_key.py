"""One run per workflow per triggering change: `crm_automation_runs.dedupe_key`, unique per tenant.

Revision ID: 2025_03_06_run_dedupe_key
Revises: 2025_03_05_reporting_views
Create Date: 2025-03-06

Dispatch writes the key (`<workflow>:event:<id>` for a change, `<workflow>:deal:<id>` for a workflow that runs
once per subject) and inserts with ON CONFLICT DO NOTHING, so a change reached by several routes, or by two
processes at once, makes one run. Manual runs and runs from before this revision have no key (NULLs never
collide). Plain ADD COLUMN and CREATE INDEX: no table rebuild on SQLite, so the reporting views stay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2025_03_06_run_dedupe_key'
down_revision: str | None = '2025_03_05_reporting_views'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("crm_automation_runs", sa.Column("dedupe_key", sa.String(length=255), nullable=True))
    op.create_index("uq_crm_automation_runs_tenant_id_dedupe_key", "crm_automation_runs",
                    ["tenant_id", "dedupe_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_crm_automation_runs_tenant_id_dedupe_key", table_name="crm_automation_runs")
    op.drop_column("crm_automation_runs", "dedupe_key")  # SQLite 3.35+ drops a column in place
