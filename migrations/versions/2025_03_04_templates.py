"""Add templates: templates, their versions (one live at most, enforced by a partial unique index) and deliveries.

Revision ID: 2025_03_04_templates
Revises: 2025_03_03_automation_runtime
Create Date: 2025-03-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2025_03_04_templates'
down_revision: str | None = '2025_03_03_automation_runtime'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('template_deliveries',
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('template_key', sa.String(length=64), nullable=True),
    sa.Column('template_version', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('message_id', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_template_deliveries_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_deliveries')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_template_deliveries_idempotency_key'))
    )
    with op.batch_alter_table('template_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_template_deliveries_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('templates',
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_templates_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_templates')),
    sa.UniqueConstraint('tenant_id', 'key', 'channel', 'language', name=op.f('uq_templates_tenant_id_key_channel_language'))
    )
    op.create_table('template_versions',
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=True),
    sa.Column('variables', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('meta', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.Column('source_checksum', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['templates.id'], name=op.f('fk_template_versions_template_id_templates'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_template_versions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_template_versions')),
    sa.UniqueConstraint('template_id', 'version', name=op.f('uq_template_versions_template_id_version'))
    )
    with op.batch_alter_table('template_versions', schema=None) as batch_op:
        batch_op.create_index('ix_template_versions_tenant_template', ['tenant_id', 'template_id'], unique=False)
        batch_op.create_index('uq_template_versions_one_live', ['tenant_id', 'template_id'], unique=True, postgresql_where=sa.text("status = 'live'"), sqlite_where=sa.text("status = 'live'"))



def downgrade() -> None:
    with op.batch_alter_table('template_versions', schema=None) as batch_op:
        batch_op.drop_index('uq_template_versions_one_live', postgresql_where=sa.text("status = 'live'"), sqlite_where=sa.text("status = 'live'"))
        batch_op.drop_index('ix_template_versions_tenant_template')

    op.drop_table('template_versions')
    op.drop_table('templates')
    with op.batch_alter_table('template_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_template_deliveries_tenant_id'))

    op.drop_table('template_deliveries')
