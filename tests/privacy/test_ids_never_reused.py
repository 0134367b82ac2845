"""A merged-away or erased person's id never becomes someone else's: the audit log, the contact redirects and
access exports name people by id (SQLite reuses a deleted highest id unless the table says AUTOINCREMENT)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from rentguy_crm.auth.service import Principal
from rentguy_crm.privacy import merge

PEOPLE_TABLES = ("contacts", "leads", "deals", "activities", "support_tickets")


async def test_the_highest_contact_merged_away_is_not_handed_to_the_next_person(db: Any, factory: Any) -> None:
    tenant = await factory.tenant("mrdj")
    keep = await factory.contact(tenant, email="jan.jansen@example.nl")
    other = await factory.contact(tenant, email="jan@werk.example.nl")  # the highest id of the table
    principal = Principal(tenant.id, tenant.slug, ("operations",), None, "test")
    async with db.session() as session:
        await merge.merge_contacts(session, principal, keep.id, other.id, reason="same person")
    newcomer = await factory.contact(tenant, email="piet@example.nl")
    assert newcomer.id > other.id


async def test_people_tables_are_autoincrement_on_sqlite(db: Any) -> None:
    async with db.read_session() as session:
        if session.bind.dialect.name != "sqlite":
            return  # Postgres sequences never hand out an id twice
        for table in PEOPLE_TABLES:
            sql = await session.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                                       {"t": table})
            assert sql is not None and "AUTOINCREMENT" in sql.upper(), table
