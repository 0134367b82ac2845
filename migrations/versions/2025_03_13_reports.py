"""The report archive (weekly Automation SLA, monthly retro) and the UAT feedback items.

Revision ID: 2025_03_13_reports
Revises: 2025_03_12_support_desk
Create Date: 2025-03-13
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2025_03_13_reports'
down_revision: str | None = '2025_03_12_support_desk'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('crm_reports',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('generated_by', sa.String(length=200), nullable=False),
    sa.Column('figures', JSON, nullable=False),
    sa.Column('charts', JSON, nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.Column('pdf_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_to', JSON, nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_reports_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_reports')),
    sa.UniqueConstraint('tenant_id', 'kind', 'period', name=op.f('uq_crm_reports_tenant_id_kind_period'))
    )
    op.create_table('crm_feedback_items',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('tags', JSON, nullable=False),
    sa.Column('workflow_key', sa.String(length=64), nullable=True),
    sa.Column('template_key', sa.String(length=64), nullable=True),
    sa.Column('screen', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_crm_feedback_items_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_feedback_items'))
    )
    op.create_index('ix_crm_feedback_items_tenant_id_created_at', 'crm_feedback_items', ['tenant_id', 'created_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_crm_feedback_items_tenant_id_created_at', table_name='crm_feedback_items')
    op.drop_table('crm_feedback_items')
    op.drop_table('crm_reports')
