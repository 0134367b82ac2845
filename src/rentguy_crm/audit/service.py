"""Write audit entries in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.audit.schemas import AuditFilters
from rentguy_crm.kit import rows
from rentguy_crm.kit.context import current_request_id
from rentguy_crm.kit.pagination import PageParams, SortOrder, fetch_page

AUDIT_SORT = SortOrder({"at": AuditEntry.at}, AuditEntry.id, default="-at")


def snapshot(obj: Any, fields: list[str] | None = None) -> dict[str, Any]:
    """A JSON-safe copy of a model's column values, for before/after. Stored whole (server-only fields too):
    the audit log is the proof; `kit.rows.without_server_only` filters what an answer shows."""
    return {name: rows.jsonable(value) for name, value in rows.columns(obj, fields=fields).items()}


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    tenant_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        tenant_id=tenant_id, actor=actor, action=action, entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id), before=before, after=after,
        request_id=current_request_id(),
    )
    session.add(entry)
    await session.flush()
    return entry


async def list_entries(session: AsyncSession, tenant_id: int, filters: AuditFilters, sort: str | None,
                       page: PageParams) -> tuple[list[AuditEntry], int]:
    """One page of a tenant's audit entries (entries without a tenant, e.g. system ones, are never listed)."""
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
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
