"""Reporting views for Metabase (runs per day, weekly Automation SLA) and the watchdog's firing state.

Revision ID: 2025_03_05_reporting_views
Revises: 2025_03_04_templates
Create Date: 2025-03-05

The views say the same thing on PostgreSQL and SQLite. The p95 is the nearest-rank percentile on both
(`percentile_disc` on PostgreSQL, a window-function rank on SQLite, which has no percentile functions).
Days and ISO weeks are UTC.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2025_03_05_reporting_views'
down_revision: str | None = '2025_03_04_templates'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Runs per tenant, workflow and UTC day by final status, with the p95 duration of finished runs.
RUNS_DAILY = {
    "postgresql": """
CREATE VIEW crm_report_runs_daily AS
SELECT t.slug AS tenant,
       r.tenant_id,
       r.workflow_key AS workflow,
       CAST(r.created_at AT TIME ZONE 'UTC' AS DATE) AS day,
       COUNT(*) AS runs,
       COUNT(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       COUNT(*) FILTER (WHERE r.status IN ('failed', 'dead')) AS failed,
       COUNT(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
       COUNT(*) FILTER (WHERE r.status IN ('queued', 'running', 'waiting')) AS active,
       ROUND(CAST(percentile_disc(0.95) WITHIN GROUP (ORDER BY r.duration_ms)
             FILTER (WHERE r.status IN ('succeeded', 'failed', 'dead', 'cancelled')) AS NUMERIC) / 1000.0, 3)
           AS p95_duration_seconds
FROM crm_automation_runs r
JOIN tenants t ON t.id = r.tenant_id
GROUP BY t.slug, r.tenant_id, r.workflow_key, CAST(r.created_at AT TIME ZONE 'UTC' AS DATE)
""",
    "sqlite": """
CREATE VIEW crm_report_runs_daily AS
WITH runs AS (
    SELECT r.tenant_id, r.workflow_key, date(r.created_at) AS day, r.status, r.duration_ms,
           CASE WHEN r.status IN ('succeeded', 'failed', 'dead', 'cancelled') AND r.duration_ms IS NOT NULL
                THEN 1 ELSE 0 END AS timed
    FROM crm_automation_runs r
), ranked AS (
    SELECT runs.*,
           ROW_NUMBER() OVER (PARTITION BY tenant_id, workflow_key, day, timed ORDER BY duration_ms) AS position,
           COUNT(*) OVER (PARTITION BY tenant_id, workflow_key, day, timed) AS timed_count
    FROM runs
)
SELECT t.slug AS tenant,
       ranked.tenant_id,
       ranked.workflow_key AS workflow,
       ranked.day AS day,
       COUNT(*) AS runs,
       SUM(ranked.status = 'succeeded') AS succeeded,
       SUM(ranked.status IN ('failed', 'dead')) AS failed,
       SUM(ranked.status = 'cancelled') AS cancelled,
       SUM(ranked.status IN ('queued', 'running', 'waiting')) AS active,
       ROUND(MIN(CASE WHEN ranked.timed = 1 AND ranked.position * 100 >= 95 * ranked.timed_count
                      THEN ranked.duration_ms END) / 1000.0, 3) AS p95_duration_seconds
FROM ranked
JOIN tenants t ON t.id = ranked.tenant_id
GROUP BY t.slug, ranked.tenant_id, ranked.workflow_key, ranked.day
""",
}

# The weekly "Automation SLA": of the runs created in an ISO week (cancelled and still active runs left out),
# the share that succeeded within their workflow's SLA and within 2 minutes. Target: 95% within 2 minutes.
SLA_WEEKLY = {
    "postgresql": """
CREATE VIEW crm_report_automation_sla_weekly AS
WITH runs AS (
    SELECT r.tenant_id, r.workflow_key,
           CAST(date_trunc('week', r.created_at AT TIME ZONE 'UTC') AS DATE) AS week_start,
           to_char(r.created_at AT TIME ZONE 'UTC', 'IYYY-"W"IW') AS iso_week,
           r.status = 'succeeded' AND (
               (r.sla_due_at IS NOT NULL AND r.completed_at <= r.sla_due_at)
               OR (r.sla_due_at IS NULL AND NOT r.sla_breached)) AS within_sla,
           r.status = 'succeeded' AND r.completed_at <= r.created_at + INTERVAL '2 minutes' AS within_2m
    FROM crm_automation_runs r
    WHERE r.status IN ('succeeded', 'failed', 'dead')
)
SELECT t.slug AS tenant,
       runs.tenant_id,
       runs.workflow_key AS workflow,
       runs.iso_week,
       runs.week_start,
       COUNT(*) AS runs,
       COUNT(*) FILTER (WHERE runs.within_sla) AS within_sla,
       COUNT(*) FILTER (WHERE runs.within_2m) AS within_2_minutes,
       ROUND(100.0 * COUNT(*) FILTER (WHERE runs.within_sla) / COUNT(*), 2) AS pct_within_sla,
       ROUND(100.0 * COUNT(*) FILTER (WHERE runs.within_2m) / COUNT(*), 2) AS pct_within_2_minutes,
       95.0 AS target_pct,
       100.0 * COUNT(*) FILTER (WHERE runs.within_2m) >= 95.0 * COUNT(*) AS meets_target
FROM runs
JOIN tenants t ON t.id = runs.tenant_id
GROUP BY t.slug, runs.tenant_id, runs.workflow_key, runs.iso_week, runs.week_start
""",
    "sqlite": """
CREATE VIEW crm_report_automation_sla_weekly AS
WITH runs AS (
    -- The Thursday of a date's ISO week decides the ISO year and week number.
    SELECT r.tenant_id, r.workflow_key, date(r.created_at, '-3 days', 'weekday 4') AS thursday,
           r.status = 'succeeded' AND (
               (r.sla_due_at IS NOT NULL AND julianday(r.completed_at) <= julianday(r.sla_due_at))
               OR (r.sla_due_at IS NULL AND NOT r.sla_breached)) AS within_sla,
           r.status = 'succeeded'
               AND julianday(r.completed_at) <= julianday(r.created_at) + 120.0 / 86400 AS within_2m
    FROM crm_automation_runs r
    WHERE r.status IN ('succeeded', 'failed', 'dead')
)
SELECT t.slug AS tenant,
       runs.tenant_id,
       runs.workflow_key AS workflow,
       strftime('%Y', runs.thursday) || '-W'
           || printf('%02d', (CAST(strftime('%j', runs.thursday) AS INTEGER) - 1) / 7 + 1) AS iso_week,
       date(runs.thursday, '-3 days') AS week_start,
       COUNT(*) AS runs,
       SUM(runs.within_sla) AS within_sla,
       SUM(runs.within_2m) AS within_2_minutes,
       ROUND(100.0 * SUM(runs.within_sla) / COUNT(*), 2) AS pct_within_sla,
       ROUND(100.0 * SUM(runs.within_2m) / COUNT(*), 2) AS pct_within_2_minutes,
       95.0 AS target_pct,
       100.0 * SUM(runs.within_2m) >= 95.0 * COUNT(*) AS meets_target
FROM runs
JOIN tenants t ON t.id = runs.tenant_id
GROUP BY t.slug, runs.tenant_id, runs.workflow_key, runs.thursday
""",
}


def upgrade() -> None:
    op.create_table('crm_watchdog_alerts',
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('alert', sa.String(length=64), nullable=False),
    sa.Column('workflow_key', sa.String(length=64), nullable=False),
    sa.Column('firing', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('failure_rate', sa.Float(), nullable=False),
    sa.Column('finished_runs', sa.Integer(), nullable=False),
    sa.Column('failed_runs', sa.Integer(), nullable=False),
    sa.Column('pending_notification', sa.String(length=16), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_watchdog_alerts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_watchdog_alerts')),
    sa.UniqueConstraint('tenant_id', 'alert', 'workflow_key', name=op.f('uq_crm_watchdog_alerts_tenant_id_alert_workflow_key'))
    )
    dialect = op.get_bind().dialect.name
    for statement in (RUNS_DAILY[dialect], SLA_WEEKLY[dialect]):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS crm_report_automation_sla_weekly")
    op.execute("DROP VIEW IF EXISTS crm_report_runs_daily")
    op.drop_table('crm_watchdog_alerts')
