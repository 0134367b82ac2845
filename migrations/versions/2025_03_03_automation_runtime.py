"""Automation runtime: workflow pauses, the worker registry and scheduled-job runs.

Revision ID: 2025_03_03_automation_runtime
Revises: 2025_03_02_lead_capture
Create Date: 2025-03-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2025_03_03_automation_runtime'
down_revision: str | None = '2025_03_02_lead_capture'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_SLA_OPEN = "NOT sla_breached AND status IN ('queued', 'running', 'waiting', 'failed', 'dead')"


def upgrade() -> None:
    with op.batch_alter_table('crm_automation_runs', schema=None) as batch_op:
        batch_op.create_index('ix_crm_automation_runs_sla_open', ['sla_due_at'], unique=False,
                              postgresql_where=sa.text(_SLA_OPEN), sqlite_where=sa.text(_SLA_OPEN))

    op.create_table('crm_schedule_runs',
    sa.Column('schedule', sa.String(length=100), nullable=False),
    sa.Column('tick_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('run_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=200), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('last_error_message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_schedule_runs')),
    sa.UniqueConstraint('schedule', 'tick_at', name=op.f('uq_crm_schedule_runs_schedule_tick_at'))
    )
    with op.batch_alter_table('crm_schedule_runs', schema=None) as batch_op:
        batch_op.create_index('ix_crm_schedule_runs_due', ['run_after', 'id'], unique=False, postgresql_where=sa.text("status IN ('queued', 'running')"), sqlite_where=sa.text("status IN ('queued', 'running')"))

    op.create_table('crm_workers',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('hostname', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.Column('tenant_filter', sa.String(length=64), nullable=True),
    sa.Column('workflow_filter', sa.String(length=64), nullable=True),
    sa.Column('runs_done', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_workers')),
    sa.UniqueConstraint('name', name=op.f('uq_crm_workers_name'))
    )
    with op.batch_alter_table('crm_workers', schema=None) as batch_op:
        batch_op.create_index('ix_crm_workers_heartbeat', ['heartbeat_at'], unique=False)

    op.create_table('crm_workflow_pauses',
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workflow_key', sa.String(length=64), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paused_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_workflow_pauses_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_workflow_pauses')),
    sa.UniqueConstraint('tenant_id', 'workflow_key', name=op.f('uq_crm_workflow_pauses_tenant_id_workflow_key'))
    )


def downgrade() -> None:
    with op.batch_alter_table('crm_automation_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_automation_runs_sla_open')
    op.drop_table('crm_workflow_pauses')
    with op.batch_alter_table('crm_workers', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_workers_heartbeat')

    op.drop_table('crm_workers')
    with op.batch_alter_table('crm_schedule_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_schedule_runs_due', postgresql_where=sa.text("status IN ('queued', 'running')"), sqlite_where=sa.text("status IN ('queued', 'running')"))

    op.drop_table('crm_schedule_runs')
