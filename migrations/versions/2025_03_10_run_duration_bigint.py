"""A run's duration in milliseconds as a 64-bit integer: a run that waits for an event weeks away (post-event care
of a deal completed a month before the gig) lasts longer than the 24.8 days a 32-bit integer holds.

Revision ID: 2025_03_10_run_duration_bigint
Revises: 2025_03_09_payments
Create Date: 2025-03-10

SQLite's INTEGER already holds 64 bits. PostgreSQL will not change the type of a column a view reads, so the
views that read it are dropped and created again from their own stored definitions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2025_03_10_run_duration_bigint'
down_revision: str | None = '2025_03_09_payments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Dropped in this order (the weekly view reads the daily one's table, not the view, but order does not hurt).
VIEWS = ("crm_report_automation_sla_weekly", "crm_report_runs_daily", "crm_report_failed_runs")


def _retype(type_: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    definitions = {name: bind.execute(sa.text("SELECT pg_get_viewdef(CAST(:name AS regclass), true)"),
                                      {"name": name}).scalar_one()
                   for name in VIEWS
                   if bind.execute(sa.text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None}
    for name in definitions:
        op.execute(f"DROP VIEW {name}")
    op.execute(f"ALTER TABLE crm_automation_runs ALTER COLUMN duration_ms TYPE {type_}")
    for name in reversed(list(definitions)):
        op.execute(f"CREATE VIEW {name} AS {definitions[name]}")


def upgrade() -> None:
    _retype("bigint")


def downgrade() -> None:
    _retype("integer")
