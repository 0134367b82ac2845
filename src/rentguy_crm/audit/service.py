"""Write audit entries in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.kit import rows
from rentguy_crm.kit.context import current_request_id


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
