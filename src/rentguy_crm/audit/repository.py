"""Audit log queries: one tenant's entries, page by page."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.audit.schemas import AuditFilters
from rentguy_crm.kit.pagination import PageParams, SortOrder, fetch_page
from rentguy_crm.tenants.scope import TenantScope

AUDIT_SORT = SortOrder({"at": AuditEntry.at}, AuditEntry.id, default="-at")


async def list_entries(session: AsyncSession, scope: TenantScope, filters: AuditFilters, sort: str | None,
                       page: PageParams) -> tuple[list[AuditEntry], int]:
    """One page of a tenant's audit entries (entries without a tenant, e.g. system ones, are never listed)."""
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == scope.tenant_id)
    for column, value in ((AuditEntry.entity_type, filters.entity_type), (AuditEntry.entity_id, filters.entity_id),
                          (AuditEntry.action, filters.action)):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.after is not None:
        stmt = stmt.where(AuditEntry.at >= filters.after)
    if filters.before is not None:
        stmt = stmt.where(AuditEntry.at < filters.before)
    rows, total = await fetch_page(session, stmt, AUDIT_SORT.order_by(sort), page)
    return [row[0] for row in rows], total
