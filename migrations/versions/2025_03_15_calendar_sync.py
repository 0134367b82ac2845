"""Add the calendar sync's memory: which Outlook event shows which deal, and each calendar's delta link.

Revision ID: 2025_03_15_calendar_sync
Revises: 2025_03_14_privacy
Create Date: 2025-03-15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2025_03_15_calendar_sync'
down_revision: str | None = '2025_03_14_privacy'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('crm_calendar_event_links',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('deal_id', ID, nullable=False),
    sa.Column('calendar_owner', sa.String(length=320), nullable=False),
    sa.Column('graph_event_id', sa.String(length=512), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outlook_modified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_crm_calendar_event_links_deal_id_deals'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_crm_calendar_event_links_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_calendar_event_links')),
    sa.UniqueConstraint('tenant_id', 'deal_id', name=op.f('uq_crm_calendar_event_links_tenant_id_deal_id')),
    sa.UniqueConstraint('tenant_id', 'calendar_owner', 'graph_event_id',
                        name=op.f('uq_crm_calendar_event_links_tenant_id_calendar_owner_graph_event_id'))
    )
    with op.batch_alter_table('crm_calendar_event_links', schema=None) as batch_op:
        batch_op.create_index('ix_crm_calendar_event_links_tenant_status', ['tenant_id', 'status'], unique=False)
    op.create_table('crm_calendar_delta_states',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('calendar_owner', sa.String(length=320), nullable=False),
    sa.Column('delta_link', sa.Text(), nullable=True),
    sa.Column('next_link', sa.Text(), nullable=True),
    sa.Column('last_synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'],
                            name=op.f('fk_crm_calendar_delta_states_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_calendar_delta_states')),
    sa.UniqueConstraint('tenant_id', 'calendar_owner',
                        name=op.f('uq_crm_calendar_delta_states_tenant_id_calendar_owner'))
    )


def downgrade() -> None:
    op.drop_table('crm_calendar_delta_states')
    with op.batch_alter_table('crm_calendar_event_links', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_calendar_event_links_tenant_status')
    op.drop_table('crm_calendar_event_links')
