"""Emit domain events into the outbox inside the caller's transaction, with the automation runs they trigger."""

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
    event, _runs = await emit_with_runs(session, tenant_id, type, subject_type=subject_type, subject_id=subject_id,
                                        payload=payload)
    return event


async def emit_with_runs(
    session: AsyncSession,
    tenant_id: int,
    type: str,
    *,
    subject_type: str | None = None,
    subject_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> tuple[Event, list[Any]]:
    """`emit`, also answering the automation runs the event created (so callers need not query for them)."""
    event = Event(tenant_id=tenant_id, type=type, subject_type=subject_type, subject_id=subject_id,
                  payload=payload or {})
    session.add(event)
    await session.flush()
    # The runs an event triggers are written in the same transaction: both land or neither does.
    from rentguy_crm.automation.dispatch import runs_for_event

    runs = await runs_for_event(session, event)
    return event, list(runs)
