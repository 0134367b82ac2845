"""Tenant-scoped queries for privacy requests: who the person is, and every row stored about them."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Table, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.crm.contact_details import normalise_email, normalise_phone
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, MarketingOptOut
from rentguy_crm.db import Base
from rentguy_crm.errors import NotFound, ValidationFailed
from rentguy_crm.events.models import Event
from rentguy_crm.intake.models import IdempotencyRecord
from rentguy_crm.integrations.outbox.files import file_name
from rentguy_crm.privacy.models import ContactRedirect
from rentguy_crm.privacy.references import registered
from rentguy_crm.templates.models import Delivery
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.webhooks.mollie.models import Payment

# Rows of these tables are gathered by name below; other tables that reference contacts (e.g. tickets) are
# gathered generically through the merge registry.
_KNOWN = {"leads", "deals", "activities", "marketing_optouts", "contact_redirects"}


@dataclass(frozen=True)
class PersonQuery:
    """How a request names the person: one of e-mail, phone or contact id (normalised like lead capture)."""

    email: str | None = None
    phone: str | None = None
    contact_id: int | None = None

    @classmethod
    def of(cls, email: str | None, phone: str | None, contact_id: int | None) -> PersonQuery:
        given = [v for v in (email, phone, contact_id) if v not in (None, "")]
        if len(given) != 1:
            raise ValidationFailed("Name the person by exactly one of e-mail, phone or contact id.",
                                   errors=[{"field": "email", "message": "give one of email, phone, contact_id",
                                            "type": "value_error"}])
        try:
            return cls(email=normalise_email(email) if email else None,
                       phone=normalise_phone(phone) if phone else None, contact_id=contact_id)
        except ValueError as exc:
            field_name = "email" if email else "phone"
            raise ValidationFailed(f"{field_name}: {exc}.", errors=[{"field": field_name, "message": str(exc),
                                                                    "type": "value_error"}]) from None


@dataclass
class PersonRecords:
    contacts: list[Contact]
    leads: list[Lead] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    runs: list[AutomationRun] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    optouts: list[MarketingOptOut] = field(default_factory=list)
    redirects: list[ContactRedirect] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    idempotency: list[IdempotencyRecord] = field(default_factory=list)
    other_tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outbox_files: list[Path] = field(default_factory=list)

    @property
    def contact_ids(self) -> list[int]:
        return [c.id for c in self.contacts]

    def counts(self) -> dict[str, int]:
        out = {"contacts": len(self.contacts), "leads": len(self.leads), "deals": len(self.deals),
               "activities": len(self.activities), "crm_automation_runs": len(self.runs),
               "template_deliveries": len(self.deliveries), "payments": len(self.payments),
               "marketing_optouts": len(self.optouts), "contact_redirects": len(self.redirects),
               "events": len(self.events), "audit_log": len(self.audit),
               "idempotency_records": len(self.idempotency), "outbox_files": len(self.outbox_files)}
        out |= {name: len(rows) for name, rows in self.other_tables.items()}
        return out


def strong_identifiers(contacts: list[Contact]) -> list[str]:
    """E-mails, phones (E.164 and the Dutch national way) and full names: what a search of free text may look for
    without hitting other people (a first name alone would)."""
    values: set[str] = set()
    for c in contacts:
        values |= {v for v in (c.email, c.phone) if v}
        if c.phone and c.phone.startswith("+31"):
            values.add("0" + c.phone[3:])
        name = f"{c.first_name} {c.last_name}".strip()
        if " " in name and len(name) >= 5:
            values.add(name)
    return sorted(values)


async def find_contacts(session: AsyncSession, tenant_id: int, query: PersonQuery) -> list[Contact]:
    """The tenant's contacts the request names (a phone may be on several). None found: 404."""
    stmt = select(Contact).where(Contact.tenant_id == tenant_id)
    if query.email:
        stmt = stmt.where(Contact.email == query.email)
    elif query.phone:
        stmt = stmt.where(Contact.phone == query.phone)
    else:
        stmt = stmt.where(Contact.id == query.contact_id)
    contacts = list((await session.scalars(stmt.order_by(Contact.id))).all())
    if not contacts:
        raise NotFound("No contact of this tenant matches the request.")
    return contacts


def _rows(table: Table, row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in table.columns}


async def gather(session: AsyncSession, tenant_id: int, contacts: list[Contact], outbox: Path | None) -> PersonRecords:
    """Every row stored about these contacts, and the outbox files of the messages sent about them."""
    metadata = Base.metadata  # complete: the app and the CLI load every model (model_registry)
    records = PersonRecords(contacts)
    ids = records.contact_ids
    records.leads = list((await session.scalars(select(Lead).where(
        Lead.tenant_id == tenant_id, Lead.contact_id.in_(ids)).order_by(Lead.id))).all())
    records.deals = list((await session.scalars(select(Deal).where(
        Deal.tenant_id == tenant_id, Deal.contact_id.in_(ids)).order_by(Deal.id))).all())
    lead_ids = [x.id for x in records.leads]
    deal_ids = [x.id for x in records.deals]
    records.activities = list((await session.scalars(select(Activity).where(
        Activity.tenant_id == tenant_id, or_(Activity.contact_id.in_(ids), Activity.lead_id.in_(lead_ids),
                                             Activity.deal_id.in_(deal_ids))).order_by(Activity.id))).all())
    records.runs = list((await session.scalars(select(AutomationRun).where(
        AutomationRun.tenant_id == tenant_id, or_(AutomationRun.lead_id.in_(lead_ids),
                                                  AutomationRun.deal_id.in_(deal_ids)))
        .order_by(AutomationRun.id))).all())
    run_ids = [r.id for r in records.runs]
    recipients = [v for c in contacts for v in (c.email, c.phone) if v]
    delivery_match = [Delivery.recipient.in_(recipients)] if recipients else []
    delivery_match += [Delivery.idempotency_key.like(f"run:{run_id}:%") for run_id in run_ids]
    if delivery_match:
        records.deliveries = list((await session.scalars(select(Delivery).where(
            Delivery.tenant_id == tenant_id, or_(*delivery_match)).order_by(Delivery.id))).all())
    records.payments = list((await session.scalars(select(Payment).where(
        Payment.tenant_id == tenant_id, Payment.deal_id.in_(deal_ids)).order_by(Payment.id))).all())
    records.optouts = list((await session.scalars(select(MarketingOptOut).where(
        MarketingOptOut.tenant_id == tenant_id, MarketingOptOut.contact_id.in_(ids)))).all())
    records.redirects = list((await session.scalars(select(ContactRedirect).where(
        ContactRedirect.tenant_id == tenant_id, ContactRedirect.kept_id.in_(ids)))).all())
    merged_ids = [r.merged_id for r in records.redirects]
    subjects = [("lead", lead_ids), ("deal", deal_ids), ("contact", ids + merged_ids), ("run", run_ids),
                ("activity", [a.id for a in records.activities])]
    records.events = list((await session.scalars(select(Event).where(
        Event.tenant_id == tenant_id,
        or_(*[(Event.subject_type == kind) & Event.subject_id.in_(values) for kind, values in subjects]))
        .order_by(Event.id))).all())
    entities = [("contact", ids + merged_ids), ("lead", lead_ids), ("deal", deal_ids),
                ("activity", [a.id for a in records.activities])]
    records.audit = list((await session.scalars(select(AuditEntry).where(
        AuditEntry.tenant_id == tenant_id,
        or_(*[(AuditEntry.entity_type == kind) & AuditEntry.entity_id.in_([str(v) for v in values])
              for kind, values in entities])).order_by(AuditEntry.id))).all())
    idempotency = (await session.scalars(select(IdempotencyRecord).where(
        IdempotencyRecord.tenant_id == tenant_id))).all()
    records.idempotency = [r for r in idempotency
                           if isinstance(r.response, dict) and (r.response.get("contact_id") in ids
                                                                or r.response.get("lead_id") in lead_ids)]
    for (table_name, column_name) in registered():
        if table_name in _KNOWN or table_name not in metadata.tables:
            continue
        table = metadata.tables[table_name]
        stmt = select(table).where(table.c[column_name].in_(ids))
        if "tenant_id" in table.c:
            stmt = stmt.where(table.c.tenant_id == tenant_id)
        records.other_tables[table_name] = [_rows(table, row) for row in (await session.execute(stmt)).all()]
    if outbox is not None:
        records.outbox_files = await asyncio.to_thread(outbox_files, outbox, run_ids, strong_identifiers(contacts))
    return records


def outbox_files(folder: Path, run_ids: list[int], identifiers: list[str]) -> list[Path]:
    """The outbox files of these runs' steps, and any other outbox file that names the person."""
    # file_name("run:12:step:3") is "run-12-step-3".
    prefixes = tuple(file_name(f"run:{run_id}:step:") + "-" for run_id in run_ids)
    if not folder.is_dir():
        return []
    found = []
    needles = [i.lower() for i in identifiers]
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if prefixes and path.name.startswith(prefixes):
            found.append(path)
            continue
        try:
            text = _readable(path).lower()
        except OSError:
            continue
        if any(n in text for n in needles):
            found.append(path)
    return found


def _readable(path: Path) -> str:
    """The text of an outbox file as a person reads it: a mail's headers and decoded bodies."""
    data = path.read_bytes()
    if path.suffix == ".eml":
        from email import message_from_bytes, policy

        message = message_from_bytes(data, policy=policy.default)
        parts = [str(v) for _k, v in message.items()]
        for part in message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts) + data.decode("utf-8", "replace")
    return data.decode("utf-8", "replace")


# -- merge, erasure and retention ------------------------------------------------------------------------------


def _in_tenant(table: Table, scope: TenantScope) -> list[Any]:
    """The tenant condition of a table found through the metadata (a few registered tables hold no tenant_id)."""
    return [table.c.tenant_id == scope.tenant_id] if "tenant_id" in table.c else []


async def repoint_references(session: AsyncSession, scope: TenantScope, table: Table, column: Column[Any],
                             keep: int, other: int) -> int:
    """Point the rows of `table` that name contact `other` in `column` at `keep`; how many moved."""
    result = await session.execute(update(table).where(column == other, *_in_tenant(table, scope))
                                   .values({column.name: keep}).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def count_references(session: AsyncSession, scope: TenantScope, table: Table, column: Column[Any],
                           contact_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(table).where(
        column == contact_id, *_in_tenant(table, scope))) or 0)


async def follow_counts(session: AsyncSession, scope: TenantScope, contact_id: int) -> dict[str, int]:
    """Rows that reach the contact through its leads and deals (runs, payments)."""
    leads = select(Lead.id).where(Lead.tenant_id == scope.tenant_id, Lead.contact_id == contact_id)
    deals = select(Deal.id).where(Deal.tenant_id == scope.tenant_id, Deal.contact_id == contact_id)
    runs = await session.scalar(select(func.count()).select_from(AutomationRun).where(
        AutomationRun.tenant_id == scope.tenant_id,
        AutomationRun.lead_id.in_(leads) | AutomationRun.deal_id.in_(deals)))
    payments = await session.scalar(select(func.count()).select_from(Payment).where(
        Payment.tenant_id == scope.tenant_id, Payment.deal_id.in_(deals)))
    return {"crm_automation_runs": int(runs or 0), "payments": int(payments or 0)}


async def active_runs_of_contact(session: AsyncSession, scope: TenantScope, contact_id: int) -> list[AutomationRun]:
    """Queued, waiting and running runs of the contact's leads and deals."""
    leads = select(Lead.id).where(Lead.tenant_id == scope.tenant_id, Lead.contact_id == contact_id)
    deals = select(Deal.id).where(Deal.tenant_id == scope.tenant_id, Deal.contact_id == contact_id)
    return list((await session.scalars(select(AutomationRun).where(
        AutomationRun.tenant_id == scope.tenant_id, AutomationRun.status.in_(("queued", "waiting", "running")),
        AutomationRun.lead_id.in_(leads) | AutomationRun.deal_id.in_(deals)))).all())


async def kept_id_of(session: AsyncSession, scope: TenantScope, merged_id: int) -> int | None:
    """The contact a merged-away contact went into (None: it was not merged away)."""
    return await session.scalar(select(ContactRedirect.kept_id).where(
        ContactRedirect.tenant_id == scope.tenant_id, ContactRedirect.merged_id == merged_id))


async def delete_rows(session: AsyncSession, scope: TenantScope, model: Any, column: Any, values: list[Any]) -> None:
    """Delete the tenant's rows of `model` whose `column` is one of `values`."""
    await session.execute(delete(model).where(model.tenant_id == scope.tenant_id, column.in_(values)))


async def delete_references(session: AsyncSession, scope: TenantScope, table: Table, column_name: str,
                            contact_ids: list[int]) -> None:
    """Delete the rows of a registered table (see `privacy.merge`) that name these contacts."""
    await session.execute(delete(table).where(table.c[column_name].in_(contact_ids), *_in_tenant(table, scope)))


async def ids_matching(session: AsyncSession, scope: TenantScope, table: Table, condition: Any) -> list[Any]:
    """Ids of the tenant's rows of `table` that meet `condition` (the sweep's search)."""
    return [row[0] for row in (await session.execute(select(table.c.id).where(
        table.c.tenant_id == scope.tenant_id, condition))).all()]


async def cell(session: AsyncSession, scope: TenantScope, table: Table, column: str, row_id: Any) -> Any:
    return await session.scalar(select(table.c[column]).where(table.c.tenant_id == scope.tenant_id,
                                                              table.c.id == row_id))


async def set_cell(session: AsyncSession, scope: TenantScope, table: Table, column: str, row_id: Any,
                   value: Any) -> None:
    await session.execute(update(table).where(table.c.tenant_id == scope.tenant_id, table.c.id == row_id)
                          .values({column: value}).execution_options(synchronize_session=False))


async def old_leads_without_deal(session: AsyncSession, scope: TenantScope, cutoff: dt.datetime) -> list[Lead]:
    """The tenant's leads created before `cutoff` that never became a deal, oldest first."""
    has_deal = exists().where(Deal.tenant_id == scope.tenant_id, Deal.lead_id == Lead.id)
    return list((await session.scalars(select(Lead).where(
        Lead.tenant_id == scope.tenant_id, Lead.created_at < cutoff, ~has_deal).order_by(Lead.id))).all())


async def has_lead_since(session: AsyncSession, scope: TenantScope, contact_id: int, since: dt.datetime) -> bool:
    return await session.scalar(select(Lead.id).where(
        Lead.tenant_id == scope.tenant_id, Lead.contact_id == contact_id, Lead.created_at >= since).limit(1)) \
        is not None


async def has_deal(session: AsyncSession, scope: TenantScope, contact_id: int) -> bool:
    return await session.scalar(select(Deal.id).where(Deal.tenant_id == scope.tenant_id,
                                                      Deal.contact_id == contact_id).limit(1)) is not None
