"""Lead capture: per-minute outcome tallies (status page error rate) and per-tenant rate-limit profile switches.

Revision ID: 2025_03_02_lead_capture
Revises: 2025_03_01_add_crm_tables
Create Date: 2025-03-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2025_03_02_lead_capture'
down_revision: str | None = '2025_03_01_add_crm_tables'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('lead_capture_tallies',
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('route', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('minute', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_capture_tallies')),
    sa.UniqueConstraint('tenant', 'route', 'outcome', 'minute', name=op.f('uq_lead_capture_tallies_tenant_route_outcome_minute'))
    )
    op.create_table('rate_limit_switches',
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('profile', sa.String(length=16), nullable=False),
    sa.Column('revert_to', sa.String(length=16), nullable=True),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('set_by', sa.String(length=200), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_rate_limit_switches_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_limit_switches')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_rate_limit_switches_tenant_id'))
    )


def downgrade() -> None:
    op.drop_table('rate_limit_switches')
    op.drop_table('lead_capture_tallies')
