"""Indexes for search and long lists: trigram indexes for contact search by part of a name, e-mail address or
phone number (Postgres, pg_trgm); contacts, activities, the lead inbox by status and a contact's timeline, newest
first.

Revision ID: 2025_03_16_search_indexes
Revises: 2025_03_15_calendar_sync
Create Date: 2025-03-16
"""

from collections.abc import Sequence

from alembic import op

revision: str = '2025_03_16_search_indexes'
down_revision: str | None = '2025_03_15_calendar_sync'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FULL_NAME = "lower((first_name || ' ') || last_name)"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    if postgres:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute(f'CREATE INDEX ix_contacts_full_name_trgm ON contacts USING gin (({FULL_NAME}) gin_trgm_ops)')
        op.execute('CREATE INDEX ix_contacts_email_trgm ON contacts USING gin (email gin_trgm_ops)')
        op.execute('CREATE INDEX ix_contacts_phone_trgm ON contacts USING gin (phone gin_trgm_ops)')
        # The planner's guess of how many contacts a `LIKE '%jansen%'` matches decides between walking the
        # newest-first index (many matches) and the trigram index (few); the default statistics guess ~15 times
        # too few for a common surname and sort 14,000 rows where 50 read in order would do.
        op.execute('ALTER INDEX ix_contacts_full_name_trgm ALTER COLUMN 1 SET STATISTICS 1000')
        op.execute('ALTER TABLE contacts ALTER COLUMN email SET STATISTICS 1000')
        op.execute('ALTER TABLE contacts ALTER COLUMN phone SET STATISTICS 1000')
    else:
        op.execute(f'CREATE INDEX ix_contacts_full_name_trgm ON contacts ({FULL_NAME})')
        op.create_index('ix_contacts_email_trgm', 'contacts', ['email'])
        op.create_index('ix_contacts_phone_trgm', 'contacts', ['phone'])
    op.create_index('ix_contacts_tenant_created', 'contacts', ['tenant_id', 'created_at', 'id'])
    op.create_index('ix_activities_tenant_created', 'activities', ['tenant_id', 'created_at', 'id'])
    op.create_index('ix_leads_tenant_status_created', 'leads', ['tenant_id', 'status', 'created_at', 'id'],
                    postgresql_include=['owner', 'team'])
    op.create_index('ix_activities_tenant_contact_created', 'activities',
                    ['tenant_id', 'contact_id', 'created_at', 'id'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE contacts ALTER COLUMN email SET STATISTICS -1')
        op.execute('ALTER TABLE contacts ALTER COLUMN phone SET STATISTICS -1')
    op.drop_index('ix_activities_tenant_contact_created', table_name='activities')
    op.drop_index('ix_activities_tenant_created', table_name='activities')
    op.drop_index('ix_contacts_tenant_created', table_name='contacts')
    op.drop_index('ix_leads_tenant_status_created', table_name='leads')
    for name in ('ix_contacts_phone_trgm', 'ix_contacts_email_trgm', 'ix_contacts_full_name_trgm'):
        op.drop_index(name, table_name='contacts')
    # pg_trgm stays: other databases' objects may use it, and an unused extension costs nothing.

