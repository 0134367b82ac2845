"""Emit domain events into the outbox inside the caller's transaction, with the automation runs they trigger.

What an event sets off is registered here by the layer above at start-up (`on_emit`): automation registers its
dispatcher (`automation.engine.hooks.install`), so this module never imports automation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.events.models import Event

EmitHook = Callable[[AsyncSession, Event], Awaitable[Sequence[Any]]]
"""Called with each emitted event, flushed, in the caller's transaction; answers the records it created there."""

_emit_hooks: list[EmitHook] = []


def on_emit(hook: EmitHook) -> None:
    """Run `hook` for every event emitted from now on, in the event's transaction (registering twice is a no-op)."""
    if hook not in _emit_hooks:
        _emit_hooks.append(hook)


async def emit(
    session: AsyncSession,
    tenant_id: int,
    type: str,
    *,
    subject_type: str | None = None,
    subject_id: int | None = None,
    payload: dict[str, Any] | None = None,
    change: str | None = None,
) -> Event:
    event, _runs = await emit_with_runs(session, tenant_id, type, subject_type=subject_type, subject_id=subject_id,
                                        payload=payload, change=change)
    return event


async def emit_with_runs(
    session: AsyncSession,
    tenant_id: int,
    type: str,
    *,
    subject_type: str | None = None,
    subject_id: int | None = None,
    payload: dict[str, Any] | None = None,
    change: str | None = None,
) -> tuple[Event, list[Any]]:
    """`emit`, also answering the automation runs the event created (so callers need not query for them).

    `change` names the change the event reports when one change is reported by several events, or again (a stage
    move is `deal.stage.changed` and `deal.stage.<key>`; a retried payment webhook): a workflow starts once per
    change (`payload.change`). Without it the event itself is the change.
    """
    event = Event(tenant_id=tenant_id, type=type, subject_type=subject_type, subject_id=subject_id,
                  payload={**(payload or {}), **({"change": change} if change else {})})
    session.add(event)
    await session.flush()
    # The runs an event triggers are written in the same transaction: both land or neither does.
    runs: list[Any] = []
    for hook in _emit_hooks:
        runs.extend(await hook(session, event))
    return event, runs
