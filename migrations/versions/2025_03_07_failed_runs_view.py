"""Reporting view for Metabase: failed and dead runs with the step that failed, named.

Revision ID: 2025_03_07_failed_runs_view
Revises: 2025_03_06_run_dedupe_key
Create Date: 2025-03-06

The failed step is the last entry of the run's step log whose status is `failed`; every entry names its step
(`step` index, `type`, `name`). Same columns and meaning on PostgreSQL and SQLite.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '2025_03_07_failed_runs_view'
down_revision: str | None = '2025_03_06_run_dedupe_key'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAILED_RUNS = {
    "postgresql": """
CREATE VIEW crm_report_failed_runs AS
SELECT t.slug AS tenant,
       r.tenant_id,
       r.id AS run_id,
       r.workflow_key AS workflow,
       r.workflow_version,
       r.status,
       r.attempt,
       r.max_attempts,
       COALESCE(r.completed_at, r.updated_at) AS failed_at,
       CAST(f.entry ->> 'step' AS INTEGER) AS failed_step_index,
       f.entry ->> 'name' AS failed_step,
       f.entry ->> 'type' AS failed_step_type,
       r.last_error_type,
       r.last_error_message,
       r.lead_id,
       r.deal_id,
       r.created_at
FROM crm_automation_runs r
JOIN tenants t ON t.id = r.tenant_id
LEFT JOIN LATERAL (
    SELECT e.entry
    FROM jsonb_array_elements(r.step_log) WITH ORDINALITY AS e(entry, position)
    WHERE e.entry ->> 'status' = 'failed'
    ORDER BY e.position DESC
    LIMIT 1
) f ON TRUE
WHERE r.status IN ('failed', 'dead')
""",
    "sqlite": """
CREATE VIEW crm_report_failed_runs AS
WITH failures AS (
    SELECT r.id AS run_id,
           (SELECT e.value FROM json_each(r.step_log) AS e
            WHERE json_extract(e.value, '$.status') = 'failed'
            ORDER BY e.key DESC LIMIT 1) AS entry
    FROM crm_automation_runs r
    WHERE r.status IN ('failed', 'dead')
)
SELECT t.slug AS tenant,
       r.tenant_id,
       r.id AS run_id,
       r.workflow_key AS workflow,
       r.workflow_version,
       r.status,
       r.attempt,
       r.max_attempts,
       COALESCE(r.completed_at, r.updated_at) AS failed_at,
       CAST(json_extract(f.entry, '$.step') AS INTEGER) AS failed_step_index,
       json_extract(f.entry, '$.name') AS failed_step,
       json_extract(f.entry, '$.type') AS failed_step_type,
       r.last_error_type,
       r.last_error_message,
       r.lead_id,
       r.deal_id,
       r.created_at
FROM failures f
JOIN crm_automation_runs r ON r.id = f.run_id
JOIN tenants t ON t.id = r.tenant_id
""",
}


def upgrade() -> None:
    op.execute(FAILED_RUNS[op.get_bind().dialect.name])


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS crm_report_failed_runs")
