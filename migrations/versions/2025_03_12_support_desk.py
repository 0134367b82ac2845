"""Add the support desk: tickets and incidents, their timeline, links, runbook ticks, the vendor/notification
outbox (support_dispatches) and SLA warnings and breaches (support_sla_marks).

Revision ID: 2025_03_12_support_desk
Revises: 2025_03_11_staff_identity
Create Date: 2025-03-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2025_03_12_support_desk'
down_revision: str | None = '2025_03_11_staff_identity'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('support_tickets',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('requester_kind', sa.String(length=16), nullable=False),
    sa.Column('requester_contact_id', ID, nullable=True),
    sa.Column('requester_email', sa.String(length=320), nullable=True),
    sa.Column('activity', sa.String(length=40), nullable=False),
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('queue', sa.String(length=400), nullable=False),
    sa.Column('accountable_team', sa.String(length=40), nullable=True),
    sa.Column('assignee_user', sa.String(length=320), nullable=True),
    sa.Column('assignee_team', sa.String(length=40), nullable=True),
    sa.Column('escalated_to', sa.String(length=40), nullable=True),
    sa.Column('runbook_key', sa.String(length=16), nullable=True),
    sa.Column('structural_problem', sa.Boolean(), nullable=False),
    sa.Column('sla_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pending_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_seconds', sa.BigInteger(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('freshdesk_id', sa.BigInteger(), nullable=True),
    sa.Column('vendor_refs', JSON, nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['requester_contact_id'], ['contacts.id'], name=op.f('fk_support_tickets_requester_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_support_tickets_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_tickets')),
    sa.UniqueConstraint('tenant_id', 'number', name=op.f('uq_support_tickets_tenant_id_number')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('support_tickets', schema=None) as batch_op:
        batch_op.create_index('ix_support_tickets_tenant_freshdesk', ['tenant_id', 'freshdesk_id'], unique=False)
        batch_op.create_index('ix_support_tickets_tenant_status', ['tenant_id', 'status'], unique=False)

    op.create_table('support_dispatches',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('ticket_id', ID, nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('result', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_support_dispatches_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['support_tickets.id'], name=op.f('fk_support_dispatches_ticket_id_support_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_dispatches')),
    sa.UniqueConstraint('tenant_id', 'dedupe_key', name=op.f('uq_support_dispatches_tenant_id_dedupe_key'))
    )
    with op.batch_alter_table('support_dispatches', schema=None) as batch_op:
        batch_op.create_index('ix_support_dispatches_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_dispatches_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('support_runbook_ticks',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('ticket_id', ID, nullable=False),
    sa.Column('runbook_key', sa.String(length=16), nullable=False),
    sa.Column('step_number', sa.Integer(), nullable=False),
    sa.Column('ticked_by', sa.String(length=200), nullable=False),
    sa.Column('ticked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('output', sa.Text(), nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_support_runbook_ticks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['support_tickets.id'], name=op.f('fk_support_runbook_ticks_ticket_id_support_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_runbook_ticks')),
    sa.UniqueConstraint('ticket_id', 'runbook_key', 'step_number', name=op.f('uq_support_runbook_ticks_ticket_id_runbook_key_step_number'))
    )
    op.create_table('support_sla_marks',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('ticket_id', ID, nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('team', sa.String(length=40), nullable=False),
    sa.Column('priority', sa.String(length=2), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_support_sla_marks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['support_tickets.id'], name=op.f('fk_support_sla_marks_ticket_id_support_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_sla_marks')),
    sa.UniqueConstraint('ticket_id', 'target', 'level', name=op.f('uq_support_sla_marks_ticket_id_target_level'))
    )
    with op.batch_alter_table('support_sla_marks', schema=None) as batch_op:
        batch_op.create_index('ix_support_sla_marks_tenant_level', ['tenant_id', 'level', 'at'], unique=False)

    op.create_table('support_ticket_links',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('ticket_id', ID, nullable=False),
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_ref', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_support_ticket_links_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['support_tickets.id'], name=op.f('fk_support_ticket_links_ticket_id_support_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_ticket_links')),
    sa.UniqueConstraint('ticket_id', 'target_type', 'target_ref', name=op.f('uq_support_ticket_links_ticket_id_target_type_target_ref'))
    )
    with op.batch_alter_table('support_ticket_links', schema=None) as batch_op:
        batch_op.create_index('ix_support_ticket_links_target', ['tenant_id', 'target_type', 'target_ref'], unique=False)

    op.create_table('support_timeline',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('ticket_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', JSON, nullable=False),
    sa.Column('source_event_id', ID, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_support_timeline_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['support_tickets.id'], name=op.f('fk_support_timeline_ticket_id_support_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_timeline')),
    sa.UniqueConstraint('source_event_id', name=op.f('uq_support_timeline_source_event_id'))
    )
    with op.batch_alter_table('support_timeline', schema=None) as batch_op:
        batch_op.create_index('ix_support_timeline_ticket', ['tenant_id', 'ticket_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('support_timeline', schema=None) as batch_op:
        batch_op.drop_index('ix_support_timeline_ticket')

    op.drop_table('support_timeline')
    with op.batch_alter_table('support_ticket_links', schema=None) as batch_op:
        batch_op.drop_index('ix_support_ticket_links_target')

    op.drop_table('support_ticket_links')
    with op.batch_alter_table('support_sla_marks', schema=None) as batch_op:
        batch_op.drop_index('ix_support_sla_marks_tenant_level')

    op.drop_table('support_sla_marks')
    op.drop_table('support_runbook_ticks')
    with op.batch_alter_table('support_dispatches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_dispatches_ticket_id'))
        batch_op.drop_index('ix_support_dispatches_due')

    op.drop_table('support_dispatches')
    with op.batch_alter_table('support_tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_support_tickets_tenant_status')
        batch_op.drop_index('ix_support_tickets_tenant_freshdesk')

    op.drop_table('support_tickets')
