"""Import contacts and leads from CSV with the normalisation and dedupe of lead capture: a person the tenant
knows (same e-mail in any case, or same phone in any notation when there is no e-mail) is updated, never
duplicated. Idempotent: a second run of the same file changes nothing. No automation starts unless asked.

Every row ends in the report as created, updated or skipped, with the physical line it starts on and why."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import repository as crm_repository
from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.crm.schemas import ContactCreate
from rentguy_crm.errors import AppError
from rentguy_crm.events import service as events
from rentguy_crm.intake import repository as intake_repository
from rentguy_crm.intake.normalise import NormalisedLead, normalise
from rentguy_crm.intake.schemas import LeadSubmission
from rentguy_crm.kit import clock
from rentguy_crm.privacy.csvfile import CsvFile, CsvRow, read_csv
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.tenants.service import tenant_config

TRUE = {"1", "ja", "j", "yes", "y", "true", "waar", "x", "✓"}
FALSE = {"0", "nee", "n", "no", "false", "onwaar", ""}
Progress = Callable[[int], None]


@dataclass
class RowOutcome:
    line: int
    outcome: str  # created, updated, skipped
    reason: str
    contact_id: int | None = None
    lead_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "outcome": self.outcome, "reason": self.reason, "contact_id": self.contact_id,
                "lead_id": self.lead_id}


@dataclass
class ImportReport:
    kind: str
    dry_run: bool
    delimiter: str
    encoding: str
    warnings: list[str]
    rows: list[RowOutcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"created": 0, "updated": 0, "skipped": 0}
        for row in self.rows:
            out[row.outcome] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dry_run": self.dry_run, "delimiter": self.delimiter, "encoding": self.encoding,
                "warnings": self.warnings, "counts": self.counts(), "rows": [r.as_dict() for r in self.rows]}


class RowProblem(Exception):
    """A row that cannot be imported; the message goes into the report."""


def _errors_text(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"] if p != "__root__") or "row"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _bool(value: str | None, column: str) -> bool:
    text = (value or "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise RowProblem(f"{column}: '{text[:20]}' is not yes/no (ja/nee, 1/0)")


def _date(value: str | None) -> str | None:
    """ISO dates, and the Dutch 31-12-2025 / 31/12/2025."""
    if not value:
        return None
    match = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", value.strip())
    if match:
        day, month, year = (int(g) for g in match.groups())
        try:
            return dt.date(year, month, day).isoformat()
        except ValueError:
            raise RowProblem(f"event_date: '{value[:20]}' is not a date") from None
    return value


def _decimal(value: str | None) -> str | None:
    """1500, 1500.50, 1.500,50 and 1500,50 (Dutch decimal comma); a euro sign is ignored."""
    if not value:
        return None
    text = value.replace("€", "").replace(" ", "").strip()
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        Decimal(text)
    except InvalidOperation:
        raise RowProblem(f"budget: '{value[:20]}' is not an amount") from None
    return text


def _check_extra(row: CsvRow) -> None:
    if row.values.get("__extra__"):
        raise RowProblem(f"the row has {row.values['__extra__']}")


def _fill(contact: Contact, values: dict[str, Any]) -> list[str]:
    """Like lead capture: a known contact keeps what it has; empty fields are filled. Nothing is cleared."""
    filled = []
    for name in ("first_name", "last_name", "phone", "company", "owner"):
        value = values.get(name)
        if value and not getattr(contact, name):
            setattr(contact, name, value)
            filled.append(name)
    return filled


def _consent(file_name: str, now: dt.datetime, text_version: str | None) -> dict[str, Any]:
    return {"marketing_opt_in": True, "text_version": text_version, "at": now.isoformat(), "source": "import",
            "file": file_name[:200]}


async def _contact(session: AsyncSession, tenant: Tenant, scope: TenantScope, values: dict[str, Any], opt_in: bool,
                   file_name: str) -> tuple[Contact, str, list[str]]:
    """The tenant's contact for these (normalised) values: found like lead capture finds it, or new."""
    email, phone = values.get("email"), values.get("phone")
    existing = None
    if email or phone:
        existing = await intake_repository.contact_for(session, scope, email, phone, lock=True)
    now = clock.now()
    version = tenant_config(tenant).intake.consent_text_version
    if existing is None:
        contact = Contact(tenant_id=tenant.id, first_name=values.get("first_name") or "",
                          last_name=values.get("last_name") or "", email=email, phone=phone,
                          company=values.get("company"), owner=values.get("owner"), marketing_opt_in=opt_in,
                          consent=_consent(file_name, now, version) if opt_in else None)
        session.add(contact)
        await session.flush()
        return contact, "created", []
    changed = _fill(existing, values)
    if opt_in and not existing.marketing_opt_in:
        if await crm_repository.has_opted_out(session, scope, existing.id):
            return existing, "kept", changed  # an objection to marketing outweighs a tick in a spreadsheet
        existing.marketing_opt_in = True
        existing.consent = _consent(file_name, now, version)
        changed.append("marketing_opt_in")
    return existing, "known", changed


async def _import_contact(session: AsyncSession, principal: Principal, tenant: Tenant, row: CsvRow,
                          file_name: str) -> RowOutcome:
    _check_extra(row)
    raw = {k: v for k, v in row.values.items() if k != "__extra__"}
    opt_in = _bool(raw.pop("marketing_opt_in", None), "marketing_opt_in")
    try:
        body = ContactCreate.model_validate({k: v for k, v in raw.items() if v is not None}
                                            | {"marketing_opt_in": opt_in})
    except ValidationError as exc:
        raise RowProblem(_errors_text(exc)) from None
    values = body.model_dump()
    before = None
    contact, state, changed = await _contact(session, tenant, principal.scope, values, opt_in, file_name)
    if state == "created":
        await audit.record(session, actor=principal.actor, action="contact.imported", entity_type="contact",
                           entity_id=contact.id, tenant_id=tenant.id, after=audit.snapshot(contact),
                           reason=f"import {file_name[:200]} line {row.line}")
        return RowOutcome(row.line, "created", "new contact", contact.id)
    objected = "; marketing left off: the contact objected to marketing" if state == "kept" else ""
    if not changed:
        return RowOutcome(row.line, "skipped", f"already known and up to date (contact {contact.id}){objected}",
                          contact.id)
    await session.flush()
    await audit.record(session, actor=principal.actor, action="contact.imported", entity_type="contact",
                       entity_id=contact.id, tenant_id=tenant.id, before=before, after=audit.snapshot(contact),
                       reason=f"import {file_name[:200]} line {row.line}")
    return RowOutcome(row.line, "updated", f"known contact {contact.id}: filled {', '.join(changed)}{objected}",
                      contact.id)


def _submission(row: CsvRow) -> LeadSubmission:
    _check_extra(row)
    raw: dict[str, Any] = {k: v for k, v in row.values.items() if k != "__extra__" and v is not None}
    raw["marketing_opt_in"] = _bool(row.values.get("marketing_opt_in"), "marketing_opt_in")
    if "event_type" in raw:
        raw["event_type"] = raw["event_type"].lower()
    raw["event_date"] = _date(raw.get("event_date"))
    raw["budget"] = _decimal(raw.get("budget"))
    raw.setdefault("source", "import")
    try:
        return LeadSubmission.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        raise RowProblem(_errors_text(exc)) from None


async def _import_lead(session: AsyncSession, principal: Principal, tenant: Tenant, row: CsvRow, file_name: str,
                       start_automations: bool) -> RowOutcome:
    submission = _submission(row)
    try:
        lead: NormalisedLead = normalise(submission)  # the very normalisation of lead capture
    except AppError as exc:
        raise RowProblem(exc.detail) from None
    if not (lead.email or lead.phone):
        raise RowProblem("email: give an e-mail address or a phone number")
    values = {"first_name": lead.first_name, "last_name": lead.last_name, "email": lead.email, "phone": lead.phone}
    contact, state, changed = await _contact(session, tenant, principal.scope, values, lead.marketing_opt_in, file_name)
    fingerprint = lead.fingerprint(tenant.id)
    config = tenant_config(tenant)
    if lead.external_id:
        existing = await crm_repository.lead_by_external_id(session, principal.scope, lead.external_id)
    else:
        existing = await crm_repository.lead_by_submission(session, principal.scope, contact.id, fingerprint)
    if existing is not None:
        if existing.submission_hash == fingerprint:
            note = f"already imported (lead {existing.id})"
            if changed:
                return RowOutcome(row.line, "updated", f"{note}; contact filled {', '.join(changed)}", contact.id,
                                  existing.id)
            return RowOutcome(row.line, "skipped", note, contact.id, existing.id)
        before = audit.snapshot(existing)
        for name, value in lead.sent_lead_values(existing.utm).items():
            setattr(existing, name, value)
        existing.submission_hash = fingerprint
        await session.flush()
        await audit.record(session, actor=principal.actor, action="lead.imported", entity_type="lead",
                           entity_id=existing.id, tenant_id=tenant.id, before=before,
                           after=audit.snapshot(existing), reason=f"import {file_name[:200]} line {row.line}")
        return RowOutcome(row.line, "updated", f"lead {existing.id} (external_id) updated", contact.id, existing.id)
    rule = config.assignment.for_event_type(lead.event_type)
    new = Lead(tenant_id=tenant.id, contact_id=contact.id, external_id=lead.external_id, status="new",
               source=lead.source, event_type=lead.event_type, event_date=lead.event_date, guests=lead.guests,
               venue=lead.venue, city=lead.city, budget=lead.budget, message=lead.message, priority=rule.priority,
               team=rule.team, flags=["imported"], utm=lead.utm, submission_hash=fingerprint)
    session.add(new)
    await session.flush()
    await audit.record(session, actor=principal.actor, action="lead.imported", entity_type="lead", entity_id=new.id,
                       tenant_id=tenant.id, after=audit.snapshot(new),
                       reason=f"import {file_name[:200]} line {row.line}")
    automation = ""
    if start_automations:
        pipeline = rule.pipeline or config.pipeline_for_event_type(lead.event_type).key
        _event, runs = await events.emit_with_runs(
            session, tenant.id, "lead.created", subject_type="lead", subject_id=new.id, payload={
                "lead_id": new.id, "contact_id": contact.id, "event_type": lead.event_type, "priority": new.priority,
                "team": new.team, "pipeline": pipeline, "source": lead.source, "flags": ["imported"],
                "new_contact": state == "created"})
        automation = f"; {len(runs)} automation run(s) started"
    who = "new contact" if state == "created" else f"known contact {contact.id}"
    return RowOutcome(row.line, "created", f"new lead for {who}{automation}", contact.id, new.id)


async def import_rows(session: AsyncSession, principal: Principal, tenant: Tenant, kind: str, parsed: CsvFile, *,
                      file_name: str, dry_run: bool = False, start_automations: bool = False,
                      progress: Progress | None = None) -> ImportReport:
    """Import parsed rows (see `csvfile.read_csv`). Each row runs in a savepoint: a bad row is skipped with its
    reason and leaves nothing behind. Flushes, never commits; for `dry_run` the caller rolls back."""
    report = ImportReport(kind, dry_run, {";": "semicolon", ",": "comma", "\t": "tab"}.get(parsed.delimiter, "?"),
                          parsed.encoding, list(parsed.warnings))
    for row in parsed.rows:
        try:
            async with session.begin_nested():
                if kind == "contacts":
                    outcome = await _import_contact(session, principal, tenant, row, file_name)
                else:
                    outcome = await _import_lead(session, principal, tenant, row, file_name, start_automations)
        except RowProblem as problem:
            outcome = RowOutcome(row.line, "skipped", str(problem))
        report.rows.append(outcome)
        if progress is not None:
            progress(1)
    await audit.record(session, actor=principal.actor, action=f"{kind}.import", entity_type="import",
                       entity_id=file_name[:64], tenant_id=tenant.id,
                       after={"counts": report.counts(), "dry_run": dry_run, "rows": len(parsed.rows)},
                       reason=f"import of {file_name[:200]}")
    return report


async def import_csv(session: AsyncSession, principal: Principal, tenant: Tenant, kind: str, data: bytes, *,
                     file_name: str, mapping: dict[str, str] | None = None, dry_run: bool = False,
                     start_automations: bool = False, progress: Progress | None = None,
                     on_parsed: Callable[[CsvFile], None] | None = None) -> ImportReport:
    """Read and import a CSV file (see `csvfile.read_csv`). A file that cannot be read at all is a
    ValidationFailed naming the problem; rows that cannot be imported are skipped with their reason.
    `dry_run`: everything is done inside a savepoint that is rolled back, so the report is exact."""
    parsed = read_csv(data, kind, mapping)
    if on_parsed is not None:
        on_parsed(parsed)
    savepoint = await session.begin_nested()
    try:
        report = await import_rows(session, principal, tenant, kind, parsed, file_name=file_name, dry_run=dry_run,
                                   start_automations=start_automations, progress=progress)
    except BaseException:
        await savepoint.rollback()
        raise
    if dry_run:
        await savepoint.rollback()
    else:
        await savepoint.commit()
    return report
