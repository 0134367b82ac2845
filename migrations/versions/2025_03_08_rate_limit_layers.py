"""Rate-limit switches stack: the temporary switches beneath the one on top, so each expiry restores what was
in force before it.

Revision ID: 2025_03_08_rate_limit_layers
Revises: 2025_03_07_failed_runs_view
Create Date: 2025-03-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2025_03_08_rate_limit_layers'
down_revision: str | None = '2025_03_07_failed_runs_view'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('rate_limit_switches') as batch:
        batch.add_column(sa.Column('layers', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rate_limit_switches') as batch:
        batch.drop_column('layers')
