"""Emit domain events into the outbox inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.events.models import Event


async def emit(
    session: AsyncSession,
    tenant_id: int,
    type: str,
    *,
    subject_type: str | None = None,
    subject_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> Event:
    event = Event(tenant_id=tenant_id, type=type, subject_type=subject_type, subject_id=subject_id,
                  payload=payload or {})
    session.add(event)
    await session.flush()
    return event
