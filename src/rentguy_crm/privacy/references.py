"""Which columns reference a contact, and how a merge treats each (`register`): read by merge, access export and
erasure. A new table is one line: `register("tickets")`; `tests/privacy/test_merge_registry.py` fails for a
table that references contacts and is not registered, so a merge never silently leaves rows behind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.tenants.scope import TenantScope

MergeStrategy = Callable[[AsyncSession, Table, Column[Any], TenantScope, int, int], Awaitable[int]]


@dataclass(frozen=True)
class Registration:
    table: str
    column: str
    strategy: MergeStrategy | None  # None: move the rows to the kept contact (`privacy.merge.move`)


_REGISTRY: dict[tuple[str, str], Registration] = {}


def register(table: str, column: str = "contact_id", strategy: MergeStrategy | None = None) -> None:
    """Say how a merge treats `table.column`, a reference to a contact (default: move the rows)."""
    _REGISTRY[(table, column)] = Registration(table, column, strategy)


def registered() -> dict[tuple[str, str], Registration]:
    return dict(_REGISTRY)


register("leads")
register("deals")
register("activities")
register("marketing_optouts")
register("support_tickets", "requester_contact_id")  # a ticket raised by the person follows them
register("contact_redirects", "kept_id")  # a contact merged into `other` earlier now resolves to `keep`


def contact_references(metadata: MetaData) -> list[tuple[str, str]]:
    """Every (table, column) that references a contact: a foreign key to contacts.id or a `contact_id` column."""
    found: set[tuple[str, str]] = set()
    for table in metadata.tables.values():
        if table.name == "contacts":
            continue
        for column in table.columns:
            if column.name == "contact_id" or any(fk.column.table.name == "contacts" for fk in column.foreign_keys):
                found.add((table.name, column.name))
    return sorted(found)


def unregistered(metadata: MetaData) -> list[tuple[str, str]]:
    return [ref for ref in contact_references(metadata) if ref not in _REGISTRY]
