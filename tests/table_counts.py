"""Row counts of the CRM, event and audit tables: how tests prove that refused input wrote nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead
from rentguy_crm.db import Database
from rentguy_crm.events.models import Event

COUNTED = {"contacts": Contact, "leads": Lead, "deals": Deal, "activities": Activity, "events": Event,
           "audit_log": AuditEntry}


async def row_counts(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return {name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in COUNTED.items()}


async def events_of(db: Database, type_prefix: str = "") -> list[Event]:
    async with db.session() as session:
        rows = await session.scalars(select(Event).where(Event.type.startswith(type_prefix)).order_by(Event.id))
        return list(rows.all())


async def audit_entries(db: Database, action: str | None = None) -> list[AuditEntry]:
    async with db.session() as session:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        return list((await session.scalars(stmt)).all())
