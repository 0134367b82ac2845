"""Privacy and data correction: contact redirects (merges), marketing opt-outs, and the reason of an audit entry.

Revision ID: 2025_03_14_privacy
Revises: 2025_03_13_reports
Create Date: 2025-03-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2025_03_14_privacy'
down_revision: str | None = '2025_03_13_reports'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('contact_redirects',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('merged_id', ID, nullable=False),
    sa.Column('kept_id', ID, nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['kept_id'], ['contacts.id'], name=op.f('fk_contact_redirects_kept_id_contacts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contact_redirects_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_redirects')),
    sa.UniqueConstraint('tenant_id', 'merged_id', name=op.f('uq_contact_redirects_tenant_id_merged_id'))
    )
    with op.batch_alter_table('contact_redirects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_redirects_kept_id'), ['kept_id'], unique=False)
    op.create_table('marketing_optouts',
    sa.Column('tenant_id', ID, nullable=False),
    sa.Column('contact_id', ID, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=True),
    sa.Column('user_agent_class', sa.String(length=32), nullable=True),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_marketing_optouts_contact_id_contacts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_marketing_optouts_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_optouts'))
    )
    with op.batch_alter_table('marketing_optouts', schema=None) as batch_op:
        batch_op.create_index('ix_marketing_optouts_tenant_contact', ['tenant_id', 'contact_id'], unique=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('reason')
    with op.batch_alter_table('marketing_optouts', schema=None) as batch_op:
        batch_op.drop_index('ix_marketing_optouts_tenant_contact')
    op.drop_table('marketing_optouts')
    with op.batch_alter_table('contact_redirects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_redirects_kept_id'))
    op.drop_table('contact_redirects')
