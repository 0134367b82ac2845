"""Tenant-scoped reads of the event outbox, by id: what happened in a tenant since the last event a reader saw."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.events.models import Event
from rentguy_crm.tenants.scope import TenantScope


async def latest_id(session: AsyncSession, scope: TenantScope) -> int:
    """The newest event id of the tenant (0 when it has none): where a new reader starts."""
    found = await session.scalar(select(func.max(Event.id)).where(Event.tenant_id == scope.tenant_id))
    return int(found or 0)


async def after(session: AsyncSession, scope: TenantScope, after_id: int, types: Sequence[str],
                limit: int = 100) -> list[Event]:
    """The tenant's events of these types with an id above `after_id`, oldest first."""
    rows = await session.scalars(
        select(Event).where(Event.tenant_id == scope.tenant_id, Event.id > after_id, Event.type.in_(types))
        .order_by(Event.id).limit(limit))
    return list(rows)
