"""Write audit entries in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.kit.context import current_request_id


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
) -> AuditEntry:
    entry = AuditEntry(
        tenant_id=tenant_id, actor=actor, action=action, entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id), before=before, after=after,
        request_id=current_request_id(),
    )
    session.add(entry)
    await session.flush()
    return entry
