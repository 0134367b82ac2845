"""Queries over the audit log; every one is scoped to one tenant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.audit.schemas import AuditFilters
from rentguy_crm.kit.pagination import PageParams, SortOrder, fetch_page
from rentguy_crm.tenants.scope import TenantScope


async def entries_with_actions(session: AsyncSession, scope: TenantScope, *, actions: Collection[str],
                               action_prefixes: Collection[str] = (), start: dt.datetime,
                               end: dt.datetime) -> list[AuditEntry]:
    """The tenant's entries whose action is one of `actions` or starts with one of `action_prefixes`, written in
    [start, end), oldest first."""
    matches: list[ColumnElement[bool]] = [AuditEntry.action.in_(list(actions))] if actions else []
    matches += [AuditEntry.action.startswith(prefix, autoescape=True) for prefix in action_prefixes]
    if not matches:
        return []
    stmt = (select(AuditEntry)
            .where(AuditEntry.tenant_id == scope.tenant_id, AuditEntry.at >= start, AuditEntry.at < end,
                   or_(*matches))
            .order_by(AuditEntry.at, AuditEntry.id))
    return list((await session.scalars(stmt)).all())


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
