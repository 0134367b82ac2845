"""`crm contacts merge`, `crm import`, `crm export` and `crm privacy`: data correction and GDPR requests from the
command line (docs/privacy.md). The command owns the transaction: it commits unless it is a dry run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from rentguy_crm.auth.service import Principal
from rentguy_crm.config import get_settings
from rentguy_crm.crm import schemas as crm_schemas
from rentguy_crm.db import one_off_session, truncate_write_ahead_log
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.kit import clock
from rentguy_crm.kit.console import JsonOption, cli_actor, console, emit, err_console, print_json, run_async
from rentguy_crm.privacy import access, erasure, export, imports, merge, retention
from rentguy_crm.privacy.csvfile import CsvFile, load_mapping
from rentguy_crm.privacy.repository import PersonQuery
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope

contacts_app = typer.Typer(help="Correct contacts: merge duplicates.", no_args_is_help=True)
import_app = typer.Typer(help="Import contacts or leads from CSV (dedupe like lead capture).", no_args_is_help=True)
export_app = typer.Typer(help="Export contacts or leads as CSV with the import's columns.", no_args_is_help=True)
privacy_app = typer.Typer(help="GDPR requests: access export, erasure, retention, the policy.", no_args_is_help=True)

TenantOption = typer.Option(..., "--tenant", help="Tenant slug or alias, e.g. mrdj.")
ByOption = typer.Option(None, "--by", help="Who does this, for the audit log (default cli:<user>).")


def _principal(tenant: Tenant, by: str | None, role: str) -> Principal:
    return Principal(tenant_id=tenant.id, tenant_slug=tenant.slug, roles=(role,), api_key_id=None, name=cli_actor(by))


def _outbox(tenant: Tenant) -> Path:
    return get_settings().var_dir / "outbox" / tenant.slug


def _person(email: str | None, phone: str | None, contact_id: int | None) -> PersonQuery:
    return PersonQuery.of(email, phone, contact_id)


# ---- contacts merge ----

def _parse_prefer(values: list[str]) -> dict[str, Any]:
    prefer: dict[str, Any] = {}
    for item in values:
        name, _, side = item.partition("=")
        if not side:
            raise ValidationFailed(f"--prefer {item}: write field=keep or field=other, e.g. --prefer email=other.")
        prefer[name.strip()] = side.strip()
    return prefer


def _print_plan(plan: merge.MergePlan) -> None:
    moves = Table(title=f"rows that move from contact {plan.other_id} to {plan.keep_id}")
    moves.add_column("table.column")
    moves.add_column("rows", justify="right")
    for name, count in plan.moves.items():
        moves.add_row(name, str(count))
    for name, count in plan.follows.items():
        moves.add_row(f"{name} (follow their leads/deals)", str(count))
    console.print(moves)
    fields = Table(title="fields side by side")
    for column in ("field", f"keep ({plan.keep_id})", f"other ({plan.other_id})", "chosen", "conflict"):
        fields.add_column(column)
    for f in plan.fields:
        fields.add_row(f.field, "" if f.keep is None else str(f.keep), "" if f.other is None else str(f.other),
                       f.chosen, "yes" if f.conflict else "")
    console.print(fields)


@contacts_app.command("merge")
def merge_command(
    keep: int = typer.Argument(..., help="The contact that stays."),
    other: int = typer.Argument(..., help="The contact merged away (404 afterwards; its id resolves to KEEP)."),
    tenant: str = TenantOption,
    reason: str = typer.Option(..., "--reason", help="Why (required; kept in the audit log)."),
    prefer: list[str] = typer.Option([], "--prefer", help="field=keep|other for a conflicting field; repeatable."),
    interactive: bool = typer.Option(False, "--interactive", help="Ask for each conflicting field."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would move and the field choices only."),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Merge contact OTHER into KEEP: every row that references OTHER moves to KEEP."""

    async def work() -> merge.MergePlan:
        choices = _parse_prefer(prefer)
        async with one_off_session() as session:
            row = await tenants.get(session, tenant)
            principal = _principal(row, by, "operations")
            if interactive and not dry_run:
                preview = await merge.merge_contacts(session, principal, keep, other, reason=reason, prefer=choices,
                                                     dry_run=True)
                for f in preview.fields:
                    if f.conflict and f.field not in choices:
                        answer = typer.prompt(f"{f.field}: keep '{f.keep}' or other '{f.other}'?",
                                              default="keep", type=click.Choice(["keep", "other"]))
                        choices[f.field] = answer
            plan = await merge.merge_contacts(session, principal, keep, other, reason=reason, prefer=choices,
                                              dry_run=dry_run)
            if dry_run:
                await session.rollback()
            return plan

    plan = run_async(work)
    if as_json:
        print_json(plan.as_dict())
        return
    _print_plan(plan)
    console.print("dry run: nothing changed" if plan.dry_run else f"merged {plan.other_id} into {plan.keep_id}")


# ---- import / export ----

def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True)


def _import(kind: str, file: Path, tenant: str, mapping: Path | None, dry_run: bool, start_automations: bool,
            by: str | None, as_json: bool) -> None:
    data = file.read_bytes()
    names = load_mapping(mapping)

    async def work() -> imports.ImportReport:
        with _progress() as progress:
            task = progress.add_task(f"import {kind}", total=None)

            def parsed(csv_file: CsvFile) -> None:
                progress.update(task, total=len(csv_file.rows))

            async with one_off_session() as session:
                row = await tenants.get(session, tenant)
                report = await imports.import_csv(
                    session, _principal(row, by, "operations"), row, kind, data, file_name=file.name,
                    mapping=names, dry_run=dry_run, start_automations=start_automations,
                    progress=lambda n: progress.advance(task, n), on_parsed=parsed)
                if dry_run:
                    await session.rollback()
                return report

    report = run_async(work)
    if as_json:
        print_json(report.as_dict())
        return
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", soft_wrap=True)
    emit([r.as_dict() for r in report.rows], as_json=False, columns=["line", "outcome", "reason", "contact_id",
                                                                     "lead_id"], title=f"import of {file.name}")
    counts = report.counts()
    console.print(f"{'dry run, nothing stored: ' if dry_run else ''}{counts['created']} created, "
                  f"{counts['updated']} updated, {counts['skipped']} skipped ({report.delimiter}, {report.encoding})")


FileArgument = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The CSV file.")
MappingOption = typer.Option(None, "--mapping", exists=True, dir_okay=False,
                             help='JSON or YAML: {"Header in the file": "column"}. Default: usual Dutch and '
                                  'English header names.')
DryRunImport = typer.Option(False, "--dry-run", help="Report what would happen; store nothing.")
StartOption = typer.Option(False, "--start-automations", help="Start lead.created workflows for new leads.")


@import_app.command("contacts")
def import_contacts(file: Path = FileArgument, tenant: str = TenantOption, mapping: Path = MappingOption,
                    dry_run: bool = DryRunImport, by: str = ByOption, as_json: bool = JsonOption) -> None:
    """Import contacts: a known person (e-mail in any case, phone in any notation) is updated, never doubled."""
    _import("contacts", file, tenant, mapping, dry_run, False, by, as_json)


@import_app.command("leads")
def import_leads(file: Path = FileArgument, tenant: str = TenantOption, mapping: Path = MappingOption,
                 dry_run: bool = DryRunImport, start_automations: bool = StartOption, by: str = ByOption,
                 as_json: bool = JsonOption) -> None:
    """Import leads with their contact; a re-run of the same file changes nothing."""
    _import("leads", file, tenant, mapping, dry_run, start_automations, by, as_json)


OutputOption = typer.Option(None, "--output", "-o", dir_okay=False, help="Write here (default: stdout).")


def _write(lines: list[str], output: Path | None) -> None:
    text = "".join(lines)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8", newline="")
        err_console.print(f"{max(0, len(lines) - 1)} rows written to {output}")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@export_app.command("contacts")
def export_contacts(
    tenant: str = TenantOption,
    owner: str = typer.Option(None, "--owner", help="Exact owner."),
    email: str = typer.Option(None, "--email", help="Exact e-mail address."),
    created_after: dt.datetime = typer.Option(None, "--created-after", help="ISO datetime (UTC if no offset)."),
    created_before: dt.datetime = typer.Option(None, "--created-before", help="ISO datetime (UTC if no offset)."),
    output: Path = OutputOption,
    by: str = ByOption,
) -> None:
    """Contacts as CSV, filtered like GET /api/v1/crm/contacts."""
    filters = crm_schemas.ContactFilters(owner=owner, email=email.lower() if email else None,
                                         created_after=_utc(created_after), created_before=_utc(created_before))

    async def work() -> list[str]:
        async with one_off_session() as session:
            row = await tenants.get(session, tenant)
            lines = [line async for line in export.contact_lines(session, TenantScope(row.id), filters)]
            await export.audit_export(session, _principal(row, by, "operations"), "contacts", "".join(lines))
            return lines

    _write(run_async(work), output)


@export_app.command("leads")
def export_leads(
    tenant: str = TenantOption,
    status: str = typer.Option(None, "--status", help="new, contacted, qualified, converted, lost, spam."),
    owner: str = typer.Option(None, "--owner", help="Exact owner."),
    team: str = typer.Option(None, "--team", help="e.g. wedding_specialists."),
    priority: str = typer.Option(None, "--priority", help="high, medium, normal."),
    event_type: str = typer.Option(None, "--event-type", help="e.g. bruiloft."),
    contact_id: int = typer.Option(None, "--contact-id", help="Only this contact's leads."),
    created_after: dt.datetime = typer.Option(None, "--created-after", help="ISO datetime (UTC if no offset)."),
    created_before: dt.datetime = typer.Option(None, "--created-before", help="ISO datetime (UTC if no offset)."),
    output: Path = OutputOption,
    by: str = ByOption,
) -> None:
    """Leads with their contact's name, e-mail and phone as CSV, filtered like GET /api/v1/crm/leads."""
    filters = crm_schemas.LeadFilters(status=status, owner=owner, team=team, priority=priority, event_type=event_type,
                                      contact_id=contact_id, created_after=_utc(created_after),
                                      created_before=_utc(created_before))

    async def work() -> list[str]:
        async with one_off_session() as session:
            row = await tenants.get(session, tenant)
            lines = [line async for line in export.lead_lines(session, TenantScope(row.id), filters)]
            await export.audit_export(session, _principal(row, by, "operations"), "leads", "".join(lines))
            return lines

    _write(run_async(work), output)


# ---- privacy ----

EmailOption = typer.Option(None, "--email", help="The person's e-mail address.")
PhoneOption = typer.Option(None, "--phone", help="The person's phone number (any notation).")
ContactOption = typer.Option(None, "--contact-id", help="The contact's id.")


@privacy_app.command("export")
def privacy_export(
    tenant: str = TenantOption,
    email: str = EmailOption,
    phone: str = PhoneOption,
    contact_id: int = ContactOption,
    output: Path = typer.Option(..., "--output", "-o", dir_okay=False, help="The ZIP archive to write."),
    request: str = typer.Option(None, "--request", help="Reference of the access request (audited)."),
    by: str = ByOption,
) -> None:
    """GDPR art. 15: one ZIP with everything stored about the person (data.json, index.html, messages/)."""

    async def work() -> tuple[bytes, dict[str, int]]:
        query = _person(email, phone, contact_id)
        async with one_off_session() as session:
            row = await tenants.get(session, tenant)
            return await access.access_export(session, _principal(row, by, "admin"), query,
                                              outbox=_outbox(row), request_ref=request)

    data, counts = run_async(work)
    output.write_bytes(data)
    emit([{"what": k, "rows": v} for k, v in counts.items() if v], as_json=False, columns=["what", "rows"],
         title=f"written to {output}")


@privacy_app.command("erase")
def privacy_erase(
    tenant: str = TenantOption,
    email: str = EmailOption,
    phone: str = PhoneOption,
    contact_id: int = ContactOption,
    request: str = typer.Option(..., "--request", help="Reference of the erasure request (required; audited)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be erased; change nothing."),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """GDPR art. 17: erase the person's data everywhere; payments stay without personal data."""

    async def work() -> erasure.ErasureReport:
        query = _person(email, phone, contact_id)
        async with one_off_session() as session:
            row = await tenants.get(session, tenant)
            report = await erasure.erase(session, _principal(row, by, "admin"), query, request_ref=request,
                                         outbox=_outbox(row), dry_run=dry_run)
            if dry_run:
                await session.rollback()
        if not dry_run:
            await truncate_write_ahead_log()  # the erased values must not stay behind in SQLite's *.db-wal
        return report

    report = run_async(work)
    if as_json:
        print_json(report.as_dict())
        return
    emit([{"what": k, "rows": v} for k, v in report.counts.items()], as_json=False, columns=["what", "rows"],
         title=("would erase" if dry_run else "erased") + f" (request {report.request})")
    for what, how in report.kept.items():
        console.print(f"kept: {what}: {how}", soft_wrap=True)
    console.print(f"waiting runs {'to cancel' if dry_run else 'cancelled'}: {report.runs_cancelled}")


@privacy_app.command("retention")
def privacy_retention(
    tenant: str = TenantOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be anonymised; change nothing."),
    by: str = ByOption,
    as_json: bool = JsonOption,
) -> None:
    """Anonymise leads without a deal older than the tenant's retention period (what the daily job does)."""

    async def work() -> retention.RetentionReport:
        async with one_off_session() as session:
            row = await tenants.get(session, tenant)
            report = await retention.apply_retention(session, row, clock.now(), outbox=_outbox(row),
                                                     dry_run=dry_run, actor=cli_actor(by))
            if dry_run:
                await session.rollback()
        if not dry_run:
            await truncate_write_ahead_log()  # the erased values must not stay behind in SQLite's *.db-wal
        return report

    report = run_async(work)
    emit(report.as_dict(), as_json=as_json, title="retention" + (" (dry run)" if dry_run else ""))


@privacy_app.command("policy")
def privacy_policy(tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Print the tenant's privacy policy as the suite applies it."""

    async def work() -> dict[str, Any]:
        async with one_off_session(read_only=True) as session:
            return retention.policy(await tenants.get(session, tenant))

    policy = run_async(work)
    if as_json:
        print_json(policy)
        return
    emit([{"rule": k, "value": v if not isinstance(v, list) else ", ".join(v) or "-"} for k, v in policy.items()],
         as_json=False, columns=["rule", "value"], title=f"privacy policy of {policy['tenant']}")

