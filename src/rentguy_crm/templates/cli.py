"""`crm templates …`: list, show, create, edit, preview, diff, publish, archive and clone a tenant's templates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.db import Database, one_off_session
from rentguy_crm.errors import NotFound
from rentguy_crm.kit.console import JsonOption, console, emit, fail, print_json, run_async
from rentguy_crm.templates import cloning, repository, schemas, service
from rentguy_crm.templates.models import Template, TemplateVersion
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import TenantScope

app = typer.Typer(help="Message templates: versions, live/draft, previews, diffs and cloning the base library.",
                  no_args_is_help=True)

TenantOption = typer.Option(..., "--tenant", "-t", help="Tenant slug, e.g. mrdj.")
ChannelOption = typer.Option(None, "--channel", "-c", help="email, whatsapp, slack or teams (needed if ambiguous).")
LanguageOption = typer.Option("nl", "--language", "-l", help="nl or en.")
VersionOption = typer.Option(None, "--version", "-v", help="Version number (default: the newest draft).")
ACTOR = "cli"
SUMMARY_COLUMNS = ["id", "key", "channel", "language", "live_version", "latest_version", "drafts", "description"]


@asynccontextmanager
async def read_only_session() -> AsyncIterator[AsyncSession]:
    """A session that is rolled back at the end, whatever happened in it: what --dry-run runs in."""
    db = Database()
    try:
        async with db.sessionmaker() as session:
            try:
                yield session
            finally:
                await session.rollback()
    finally:
        await db.dispose()


async def _locate(session: AsyncSession, tenant_id: int, key: str, channel: str | None,
                  language: str) -> Template:
    matches = await repository.templates(session, TenantScope(tenant_id), key=key, channel=channel, language=language)
    if not matches:
        raise NotFound(f"No template '{key}'{f' ({channel})' if channel else ''} in language {language}.")
    if len(matches) > 1:
        raise NotFound(f"Template '{key}' exists for several channels ({', '.join(t.channel for t in matches)}); "
                       "say which with --channel.")
    return matches[0]


async def _pick_version(session: AsyncSession, template: Template, number: int | None,
                        default: str = "draft") -> TemplateVersion:
    if number is not None:
        found = await repository.version_by_number(session, TenantScope(template.tenant_id), template.id, number)
        if found is None:
            raise NotFound(f"Template {template.key} has no version {number}.")
        return found
    versions = await repository.versions(session, TenantScope(template.tenant_id), [template.id])
    wanted = [v for v in versions if v.status == default] or [v for v in versions if v.status == "live"]
    if not wanted:
        raise NotFound(f"Template {template.key} has no {default} version; give --version.")
    return max(wanted, key=lambda v: v.version)


def _read(path: Path | None) -> str | None:
    return None if path is None else path.read_text(encoding="utf-8")


def _version_row(v: schemas.TemplateVersion) -> dict[str, Any]:
    return {"version": v.version, "status": v.status, "origin": v.origin, "created_by": v.created_by,
            "created_at": v.created_at, "published_at": v.published_at, "checksum": v.checksum[:12]}


def _emit_version(v: schemas.TemplateVersion, as_json: bool, title: str) -> None:
    if as_json:
        emit(v.model_dump(mode="json"), as_json=True)
        return
    emit(_version_row(v), as_json=False, title=title)
    for warning in v.warnings:
        console.print(f"[yellow]warning[/yellow] {warning.message}", highlight=False, soft_wrap=True)


@app.command("list")
def list_templates(
    tenant: str = TenantOption,
    key: str | None = typer.Option(None, "--key", help="Only this key."),
    channel: str | None = typer.Option(None, "--channel", "-c", help="Only this channel."),
    language: str | None = typer.Option(None, "--language", "-l", help="Only this language."),
    as_json: bool = JsonOption,
) -> None:
    """List a tenant's templates with their live version and open drafts."""

    async def go() -> list[schemas.TemplateSummary]:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            return await service.list_summaries(session, t, key=key, channel=channel, language=language)

    rows = run_async(go)
    emit([r.model_dump() for r in rows], as_json=as_json, columns=SUMMARY_COLUMNS, title=f"templates of {tenant}")


@app.command("show")
def show(key: str = typer.Argument(..., help="Template key, e.g. lead-welcome."), tenant: str = TenantOption,
         channel: str | None = ChannelOption, language: str = LanguageOption,
         version: int | None = typer.Option(None, "--version", "-v", help="Print this version's content."),
         as_json: bool = JsonOption) -> None:
    """Show a template, its versions, and the content of the live (or given) version."""

    async def go() -> tuple[schemas.Template, TemplateVersion | None]:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            template = await _locate(session, t.id, key, channel, language)
            detail = await service.detail(session, t, template.id)
            chosen = await _pick_version(session, template, version, default="live") if detail.versions else None
            return detail, chosen

    detail, chosen = run_async(go)
    if as_json:
        print_json(detail.model_dump(mode="json"))
        return
    emit([_version_row(v) for v in detail.versions], as_json=False,
         title=f"{detail.key} ({detail.channel}, {detail.language}) — live v{detail.live_version or '-'}")
    if chosen is not None:
        console.print(f"[bold]v{chosen.version} ({chosen.status})[/bold]", highlight=False)
        if chosen.subject:
            console.print(f"subject: {chosen.subject}", highlight=False, markup=False)
        console.print(chosen.text_body, highlight=False, markup=False)


@app.command("create")
def create(
    key: str = typer.Argument(..., help="Template key, e.g. lead-welcome."),
    tenant: str = TenantOption,
    channel: str = typer.Option(..., "--channel", "-c", help="email, whatsapp, slack or teams."),
    language: str = LanguageOption,
    subject: str | None = typer.Option(None, "--subject", help="E-mail subject (a template)."),
    text_file: Path = typer.Option(..., "--text-file", exists=True, dir_okay=False, help="Text body file."),
    html_file: Path | None = typer.Option(None, "--html-file", exists=True, dir_okay=False, help="HTML body file."),
    variables: str = typer.Option("", "--variables", help="Declared variables, comma separated."),
    description: str | None = typer.Option(None, "--description"),
    as_json: bool = JsonOption,
) -> None:
    """Create a new draft (and the template if it does not exist yet)."""

    def body() -> schemas.TemplateCreate:
        return schemas.TemplateCreate(key=key, channel=channel, language=language, subject=subject,
                                      text_body=_read(text_file) or "", html_body=_read(html_file),
                                      variables=[v.strip() for v in variables.split(",") if v.strip()],
                                      description=description)

    async def go() -> schemas.TemplateVersion:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            _template, version = await service.create_draft(session, t, body(), ACTOR)
            return service.version_view(version)

    v = run_async(go)
    _emit_version(v, as_json, f"draft created: {key}")


@app.command("edit")
def edit(
    key: str = typer.Argument(...), tenant: str = TenantOption, channel: str | None = ChannelOption,
    language: str = LanguageOption, version: int | None = VersionOption,
    subject: str | None = typer.Option(None, "--subject"),
    text_file: Path | None = typer.Option(None, "--text-file", exists=True, dir_okay=False),
    html_file: Path | None = typer.Option(None, "--html-file", exists=True, dir_okay=False),
    variables: str | None = typer.Option(None, "--variables", help="Declared variables, comma separated."),
    as_json: bool = JsonOption,
) -> None:
    """Edit a draft in place; editing the live version makes a new draft."""
    changes: dict[str, Any] = {}
    if subject is not None:
        changes["subject"] = subject
    if text_file is not None:
        changes["text_body"] = _read(text_file)
    if html_file is not None:
        changes["html_body"] = _read(html_file)
    if variables is not None:
        changes["variables"] = [v.strip() for v in variables.split(",") if v.strip()]

    async def go() -> schemas.TemplateVersion:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            template = await _locate(session, t.id, key, channel, language)
            chosen = await _pick_version(session, template, version)
            _t, edited = await service.edit(session, t, chosen.id, schemas.TemplateUpdate(**changes), ACTOR)
            return service.version_view(edited)

    v = run_async(go)
    _emit_version(v, as_json, f"edited: {key}")


@app.command("preview")
def preview(key: str = typer.Argument(...), tenant: str = TenantOption, channel: str | None = ChannelOption,
            language: str = LanguageOption, version: int | None = VersionOption,
            lead_id: int | None = typer.Option(None, "--lead-id", help="Render with this lead's real data."),
            deal_id: int | None = typer.Option(None, "--deal-id", help="Render with this deal's real data."),
            as_json: bool = JsonOption) -> None:
    """Render a version with sample data (or a real lead/deal) without sending anything."""

    async def go() -> schemas.Preview:
        async with read_only_session() as session:
            t = await tenants.get(session, tenant)
            template = await _locate(session, t.id, key, channel, language)
            chosen = await _pick_version(session, template, version)
            return await service.preview(session, t, TenantScope(t.id), chosen.id,
                                         schemas.PreviewRequest(lead_id=lead_id, deal_id=deal_id))

    p = run_async(go)
    if as_json:
        print_json(p.model_dump(mode="json"))
        return
    if p.subject:
        console.print(f"subject: {p.subject}", highlight=False, markup=False)
    console.print(p.text, highlight=False, markup=False)
    if p.whatsapp_parameters:
        console.print(f"whatsapp parameters: {p.whatsapp_parameters}", highlight=False, markup=False)
    if p.html:
        console.print("--- html ---\n" + p.html, highlight=False, markup=False)


@app.command("diff")
def diff(key: str = typer.Argument(...), tenant: str = TenantOption, channel: str | None = ChannelOption,
         language: str = LanguageOption, as_json: bool = JsonOption) -> None:
    """Show the newest draft against the live version (unified diff)."""

    async def go() -> schemas.Diff:
        async with read_only_session() as session:
            t = await tenants.get(session, tenant)
            template = await _locate(session, t.id, key, channel, language)
            return await service.diff(session, t, template.id)

    d = run_async(go)
    if as_json:
        print_json(d.model_dump(mode="json"))
        return
    console.print(d.diff if d.changed else "draft and live are the same (or one of them is missing)",
                  highlight=False, markup=False)


@app.command("publish")
def publish(key: str = typer.Argument(...), tenant: str = TenantOption, channel: str | None = ChannelOption,
            language: str = LanguageOption, version: int | None = VersionOption, as_json: bool = JsonOption) -> None:
    """Publish a draft: it goes live and the previous live version is archived."""

    async def go() -> schemas.TemplateVersion:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            template = await _locate(session, t.id, key, channel, language)
            chosen = await _pick_version(session, template, version)
            return service.version_view(await service.publish(session, t, chosen.id, ACTOR))

    v = run_async(go)
    _emit_version(v, as_json, f"published: {key}")


@app.command("archive")
def archive(key: str = typer.Argument(...), tenant: str = TenantOption, channel: str | None = ChannelOption,
            language: str = LanguageOption,
            version: int = typer.Option(..., "--version", "-v", min=1, max=2**31 - 1,
                                        help="Version number to archive."),
            as_json: bool = JsonOption) -> None:
    """Archive a version (a live one stops being sent)."""

    async def go() -> schemas.TemplateVersion:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            template = await _locate(session, t.id, key, channel, language)
            chosen = await _pick_version(session, template, version)
            return service.version_view(await service.archive(session, t, chosen.id, ACTOR))

    v = run_async(go)
    _emit_version(v, as_json, f"archived: {key}")


CLONE_COLUMNS = ["key", "channel", "language", "live_version", "source", "action", "result"]


def clone_command(
    tenant: str = TenantOption,
    source: str = typer.Option("base", "--from", help="'base': the repository's template library (the default)."),
    from_tenant: str | None = typer.Option(None, "--from-tenant", help="Clone another tenant's live templates."),
    only: list[str] = typer.Option([], "--only", help="Only these template keys (repeat the option)."),
    publish: bool = typer.Option(False, "--publish", help="Put the clones live (default: drafts)."),
    force: bool = typer.Option(False, "--force", help="Also overwrite copies the tenant edited (conflicts)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; write nothing."),
    as_json: bool = JsonOption,
) -> None:
    """Clone templates into a tenant; with --dry-run, show which templates are live and what a clone would do."""

    if source != "base":
        raise fail(f"--from accepts only 'base' (got '{source}'); to clone another tenant use --from-tenant {source}")

    async def go() -> schemas.CloneReport:
        opener = read_only_session() if dry_run else one_off_session()
        async with opener as session:
            return await cloning.clone(session, tenant, from_tenant=from_tenant, only=list(only), publish=publish,
                                       force=force, dry_run=dry_run, actor=ACTOR)

    report = run_async(go)
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        emit([r.model_dump() for r in report.rows], as_json=False, columns=CLONE_COLUMNS,
             title=f"clone into {report.tenant} from {report.source}{' (dry run)' if dry_run else ''}")
        console.print(report.summary, highlight=False)
    if not report.ok:
        raise fail("conflicts were not published; rerun with --force to overwrite the tenant's edits", code=3)


app.command("clone")(clone_command)
