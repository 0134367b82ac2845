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


async def stage_moves_since(session: AsyncSession, scope: TenantScope, deal_id: int, from_id: int,
                            limit: int = 50) -> list[Event]:
    """The deal's stage events (`deal.stage.*`) from event `from_id` on, oldest first: a move and what came after."""
    rows = await session.scalars(
        select(Event).where(Event.tenant_id == scope.tenant_id, Event.subject_type == "deal",
                            Event.subject_id == deal_id, Event.id >= from_id, Event.type.startswith("deal.stage."))
        .order_by(Event.id).limit(limit))
    return list(rows)


async def latest_of_subject(session: AsyncSession, scope: TenantScope, subject_type: str, subject_id: int,
                            type_: str) -> Event | None:
    """The newest event of this type about one record of the tenant."""
    return await session.scalar(
        select(Event).where(Event.tenant_id == scope.tenant_id, Event.subject_type == subject_type,
                            Event.subject_id == subject_id, Event.type == type_)
        .order_by(Event.id.desc()).limit(1))
