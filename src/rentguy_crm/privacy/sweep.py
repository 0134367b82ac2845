"""Find and scrub a person's identifying values in every tenant-owned text and JSON column of the schema.

Driven by the metadata, so a table added later is searched too. Used by erasure after the targeted deletes,
as the last net for copies nobody thought of (a note on another lead naming the person, an audit entry's
before/after)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, MetaData, String, Table, Text, cast, func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.privacy import repository
from rentguy_crm.tenants.scope import TenantScope

ERASED = "[erased]"
# Tables whose text is configuration, not records about people.
_SKIP = {"tenants", "templates", "template_versions", "workflows", "api_keys", "rate_limit_switches"}


@dataclass(frozen=True)
class Hit:
    table: str
    column: str
    row_id: Any


def searchable_columns(metadata: MetaData) -> dict[str, list[Column[Any]]]:
    """Tenant-owned tables and their text and JSON columns."""
    out: dict[str, list[Column[Any]]] = {}
    for table in metadata.sorted_tables:
        if table.name in _SKIP or "tenant_id" not in table.c or "id" not in table.c:
            continue
        columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        if columns:
            out[table.name] = columns
    return out


def _variants(needle: str) -> list[str]:
    """The value as written, and as a JSON string escapes it (non-ASCII names in JSON stored as text)."""
    escaped = json.dumps(needle)[1:-1]
    return sorted({needle.lower(), escaped.lower()})


def _match(column: Column[Any], needles: list[str]) -> Any:
    text = func.lower(cast(column, Text))
    return or_(*[text.contains(v, autoescape=True) for n in needles for v in _variants(n)])


async def find(session: AsyncSession, metadata: MetaData, scope: TenantScope, needles: list[str]) -> list[Hit]:
    hits: list[Hit] = []
    needles = [n for n in needles if n]
    if not needles:
        return hits
    for name, columns in searchable_columns(metadata).items():
        table: Table = metadata.tables[name]
        for column in columns:
            row_ids = await repository.ids_matching(session, scope, table, _match(column, needles))
            hits += [Hit(name, column.name, row_id) for row_id in row_ids]
    return hits


def scrub_value(value: Any, needles: list[str]) -> Any:
    """The value with every string that contains a needle replaced by `[erased]`."""
    if isinstance(value, str):
        lowered = value.lower()
        return ERASED if any(n.lower() in lowered for n in needles) else value
    if isinstance(value, dict):
        return {k: scrub_value(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, needles) for v in value]
    return value


async def scrub(session: AsyncSession, metadata: MetaData, scope: TenantScope, hits: list[Hit],
                needles: list[str]) -> int:
    """Replace the identifying values in the rows found; returns how many cells changed."""
    changed = 0
    for hit in hits:
        table = metadata.tables[hit.table]
        current = await repository.cell(session, scope, table, hit.column, hit.row_id)
        cleaned = scrub_value(current, needles)
        if cleaned != current:
            await repository.set_cell(session, scope, table, hit.column, hit.row_id, cleaned)
            changed += 1
    return changed
