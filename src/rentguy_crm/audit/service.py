"""Write audit entries in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.audit.schemas import AuditFilters
from rentguy_crm.kit.context import current_request_id
from rentguy_crm.kit.pagination import PageParams, SortOrder, fetch_page

AUDIT_SORT = SortOrder({"at": AuditEntry.at}, AuditEntry.id, default="-at")


def snapshot(obj: Any, fields: list[str] | None = None) -> dict[str, Any]:
    """A JSON-safe copy of a model's column values, for before/after."""
    columns = fields or [c.key for c in inspect(obj).mapper.column_attrs]
    return {name: _jsonable(getattr(obj, name)) for name in columns}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


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
    reason: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        tenant_id=tenant_id, actor=actor, action=action, entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id), before=before, after=after,
        request_id=current_request_id(), reason=reason,
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
