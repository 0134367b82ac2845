"""Right to erasure (GDPR art. 17): remove or anonymise a person's data everywhere it lives.

Rows about them go (contact, leads, deals, activities, opt-outs, redirects, idempotency replays, delivery
records); rows that must stay for the law or for counts stay without personal data: payments keep amount,
currency, status and dates for the fiscal retention period (Dutch AWR art. 52, 7 years) but lose their metadata
and deal link; runs keep their workflow, times and outcome but lose context and step outputs, and the waiting
ones are cancelled with reason "erased"; events keep type and time. Outbox files of their messages are deleted.
Earlier audit entries lose the before/after values that hold the person's data; the erasure itself is audited
with who, when and the request reference, never the erased values. A later lead of the same person is new.

The same machinery anonymises in place (`anonymise=True`): the retention run keeps leads and contact rows
for the statistics, emptied of everything that identifies the person.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import Principal
from rentguy_crm.automation.runs.models import ACTIVE_RUN_STATUSES
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, MarketingOptOut
from rentguy_crm.db import Base
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.intake.models import IdempotencyRecord
from rentguy_crm.kit import clock
from rentguy_crm.privacy import repository, sweep
from rentguy_crm.privacy.models import ContactRedirect
from rentguy_crm.privacy.references import registered
from rentguy_crm.privacy.repository import PersonQuery, PersonRecords, strong_identifiers
from rentguy_crm.templates.models import Delivery
from rentguy_crm.tenants.scope import TenantScope

ERASED_REASON = "erased"
# Step-log fields that say what happened without saying to whom.
_STEP_FIELDS = ("step", "type", "name", "status", "attempt", "at", "worker", "started_at", "idempotency_key")


@dataclass
class ErasureReport:
    request: str
    dry_run: bool
    mode: str  # erase or anonymise
    contact_ids: list[int]
    counts: dict[str, int]
    runs_cancelled: int = 0
    kept: dict[str, str] = field(default_factory=dict)
    scrubbed_cells: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"request": self.request, "dry_run": self.dry_run, "mode": self.mode, "contact_ids": self.contact_ids,
                "counts": self.counts, "runs_cancelled": self.runs_cancelled, "kept": self.kept,
                "scrubbed_cells": self.scrubbed_cells}


def _scrub_step_log(log: list[Any]) -> list[Any]:
    out = []
    for entry in log:
        if isinstance(entry, dict):
            out.append({k: entry[k] for k in _STEP_FIELDS if k in entry} | {"erased": True})
    return out


async def _runs(session: AsyncSession, records: PersonRecords, *, cancel: bool) -> int:
    now = clock.now()
    cancelled = 0
    for run in records.runs:
        if cancel and run.status in ACTIVE_RUN_STATUSES:
            run.status = "cancelled"
            run.completed_at = now
            run.lease_owner = None
            run.lease_expires_at = None
            run.last_error_type = ERASED_REASON
            run.last_error_message = ERASED_REASON
            cancelled += 1
        elif run.last_error_message:
            run.last_error_message = f"{run.last_error_type or 'error'} (text removed: {ERASED_REASON})"
        run.context = {}
        run.step_log = _scrub_step_log(run.step_log or [])
    return cancelled


def _delete_files(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)


async def _scrub_audit(session: AsyncSession, records: PersonRecords) -> None:
    """Entries about the person's records keep who, when and what action, not the values."""
    for entry in records.audit:
        if entry.before is not None:
            entry.before = {"erased": True}
        if entry.after is not None:
            entry.after = {"erased": True}


def anonymise_contact(contact: Contact) -> None:
    contact.first_name = ""
    contact.last_name = ""
    contact.email = None
    contact.phone = None
    contact.company = None
    contact.consent = None
    contact.marketing_opt_in = False


def anonymise_lead(lead: Lead) -> None:
    lead.message = None
    lead.venue = None
    lead.external_id = None
    lead.submission_hash = None
    lead.utm = {}
    lead.flags = sorted(set(lead.flags or []) | {"anonymised"})


async def erase_records(session: AsyncSession, scope: TenantScope, records: PersonRecords, *,
                        anonymise: bool) -> tuple[int, int]:
    """Remove (or anonymise) what `records` holds. Returns (runs cancelled, cells scrubbed by the sweep)."""
    metadata = Base.metadata  # complete: the app and the CLI load every model (model_registry)
    needles = strong_identifiers(records.contacts)
    cancelled = await _runs(session, records, cancel=True)
    for payment in records.payments:
        payment.metadata_ = {}
        payment.deal_id = None
    for event in records.events:
        event.payload = {ERASED_REASON: True}
        if event.processed_at is None:  # never start automations for a person who is gone
            event.processed_at = clock.now()
    await _scrub_audit(session, records)
    ids = records.contact_ids
    lead_ids = [x.id for x in records.leads]
    deal_ids = [x.id for x in records.deals]
    for model, rows in ((Delivery, records.deliveries), (IdempotencyRecord, records.idempotency)):
        row_ids = [r.id for r in rows]
        if row_ids:
            await repository.delete_rows(session, scope, model, model.id, row_ids)
    await repository.delete_rows(session, scope, MarketingOptOut, MarketingOptOut.contact_id, ids)
    await repository.delete_rows(session, scope, ContactRedirect, ContactRedirect.kept_id, ids)
    activity_ids = [a.id for a in records.activities]
    if activity_ids:
        await repository.delete_rows(session, scope, Activity, Activity.id, activity_ids)
    for (table_name, column_name), _registration in _other_registrations(metadata, records):
        await repository.delete_references(session, scope, metadata.tables[table_name], column_name, ids)
    if anonymise:
        for lead in records.leads:
            anonymise_lead(lead)
        for contact in records.contacts:
            anonymise_contact(contact)
    else:
        if deal_ids:
            await repository.delete_rows(session, scope, Deal, Deal.id, deal_ids)
        if lead_ids:
            await repository.delete_rows(session, scope, Lead, Lead.id, lead_ids)
        await repository.delete_rows(session, scope, Contact, Contact.id, ids)
    await session.flush()
    # The last net: copies anywhere else in the tenant's records (another lead's note, an audit entry).
    hits = [h for h in await sweep.find(session, metadata, scope, needles) if h.table != "contacts"]
    scrubbed = await sweep.scrub(session, metadata, scope, hits, needles)
    await asyncio.to_thread(_delete_files, records.outbox_files)
    return cancelled, scrubbed


def _other_registrations(metadata: Any, records: PersonRecords) -> list[tuple[tuple[str, str], Any]]:
    return [(key, reg) for key, reg in registered().items()
            if key[0] in records.other_tables and key[0] in metadata.tables]


async def erase(session: AsyncSession, principal: Principal, query: PersonQuery, *, request_ref: str,
                outbox: Path | None, dry_run: bool = False) -> ErasureReport:
    """Erase the person `query` names (404 if the tenant has no such contact). `request_ref`: the request's
    reference (required; audited). `dry_run`: count, change nothing. Never commits."""
    if not request_ref or not request_ref.strip():
        raise ValidationFailed("request: give the reference of the erasure request.",
                               errors=[{"field": "request", "message": "required", "type": "missing"}])
    contacts = await repository.find_contacts(session, principal.tenant_id, query)
    records = await repository.gather(session, principal.tenant_id, contacts, outbox)
    if outbox is not None:
        records.outbox_files = await asyncio.to_thread(repository.outbox_files, outbox, [r.id for r in records.runs],
                                                       strong_identifiers(contacts))
    report = ErasureReport(request_ref.strip(), dry_run, "erase", records.contact_ids, records.counts())
    report.kept = {"payments": "amount, currency, status and dates kept without personal data (fiscal retention)",
                   "crm_automation_runs": "workflow, times and outcome kept; context and step outputs removed",
                   "events": "type and time kept; payload removed",
                   "audit_log": "who and when kept; before/after values removed"}
    if dry_run:
        report.runs_cancelled = sum(1 for r in records.runs if r.status in ACTIVE_RUN_STATUSES)
        return report
    report.runs_cancelled, report.scrubbed_cells = await erase_records(session, principal.scope, records,
                                                                       anonymise=False)
    await audit.record(session, actor=principal.actor, action="privacy.erased", entity_type="privacy_request",
                       entity_id=report.request[:64], tenant_id=principal.tenant_id,
                       after={"contact_ids": report.contact_ids, "counts": report.counts,
                              "runs_cancelled": report.runs_cancelled, "scrubbed_cells": report.scrubbed_cells},
                       reason=report.request)
    return report

