"""Queries over the audit log; every one is scoped to one tenant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit.models import AuditEntry
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
