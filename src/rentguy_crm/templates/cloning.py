"""Cloning templates into a tenant from the base library or another tenant, with a dry-run that writes nothing.

Per (key, channel, language) the plan compares the tenant's current copy (its live version, else its newest
draft) with the source:
- `create`: the tenant has no version yet;
- `unchanged`: the tenant's copy has the source's content;
- `update`: the source changed and the tenant's copy is still one that an earlier clone wrote;
- `conflict`: the tenant's copy was edited by hand since the last clone (its content is not any content a clone
  ever wrote); applying the source would overwrite that edit, so it needs `--force`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import job_scope
from rentguy_crm.errors import BadRequest, NotFound, ValidationFailed
from rentguy_crm.templates import repository, schemas, service
from rentguy_crm.templates.library import SourceTemplate, content_checksum, load_library
from rentguy_crm.templates.models import TemplateVersion
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.config import TenantConfig
from rentguy_crm.tenants.models import Tenant


@dataclass
class PlannedClone:
    source: SourceTemplate
    live_version: int | None
    current: TemplateVersion | None
    action: str


async def sharing_source(session: AsyncSession, tenant: Tenant, from_tenant: str) -> Tenant:
    """The tenant named as a clone source, if it shares its templates with `tenant`.

    A tenant that does not share answers exactly like one that does not exist, so neither its templates nor
    its existence can be learnt by naming it."""
    other = await tenants.find(session, from_tenant)
    if other is not None and other.id == tenant.id:
        raise BadRequest("from_tenant names the tenant itself; clone from base or another tenant.",
                         errors=[{"field": "from_tenant", "message": "names the tenant itself"}])
    shared = other is not None and tenant.slug in TenantConfig.model_validate(other.config).templates.shareable_with
    if other is None or not shared:
        shown = from_tenant[:64].replace("\x00", "")
        raise NotFound(f"No tenant '{shown}' shares its templates with {tenant.slug}. A tenant shares them by "
                       f"listing {tenant.slug} under templates.shareable_with in its config.",
                       errors=[{"field": "from_tenant", "message": "no such tenant shares its templates with you"}])
    return other


async def sources(session: AsyncSession, tenant: Tenant, from_tenant: str | None) -> tuple[str, list[SourceTemplate]]:
    if not from_tenant:
        return "base", list(load_library())
    other = await sharing_source(session, tenant, from_tenant)
    entries: list[SourceTemplate] = []
    for template in await repository.templates(session, job_scope(other.id)):
        live = await repository.live_version(session, job_scope(other.id), template.id)
        if live is not None:
            entries.append(SourceTemplate(key=template.key, channel=template.channel, language=template.language,
                                          content=service.content_of(live), origin=f"tenant:{other.slug}",
                                          description=template.description, version=live.version))
    return f"tenant {other.slug}", entries


async def plan(session: AsyncSession, tenant: Tenant, entries: list[SourceTemplate]) -> list[PlannedClone]:
    planned: list[PlannedClone] = []
    for entry in entries:
        scope = job_scope(tenant.id)
        template = await repository.find_template(session, scope, entry.key, entry.channel, entry.language)
        versions = await repository.versions(session, scope, [template.id]) if template else []
        live = next((v for v in versions if v.status == "live"), None)
        drafts = [v for v in versions if v.status == "draft"]
        current = live or (max(drafts, key=lambda v: v.version) if drafts else None)
        cloned = {v.source_checksum for v in versions if v.source_checksum}
        if current is None:
            action = "create"
        elif content_checksum(service.content_of(current)) == entry.checksum:
            action = "unchanged"
        elif content_checksum(service.content_of(current)) in cloned:
            action = "update"
        else:
            action = "conflict"
        planned.append(PlannedClone(entry, live.version if live else None, current, action))
    return planned


def _source_label(entry: SourceTemplate) -> str:
    label = entry.origin if entry.version is None else f"{entry.origin} v{entry.version}"
    return f"{label} #{entry.checksum[:8]}"


async def clone(session: AsyncSession, tenant_slug: str, *, from_tenant: str | None = None,
                only: list[str] | None = None, publish: bool = False, force: bool = False,
                dry_run: bool = False, actor: str = "cli") -> schemas.CloneReport:
    tenant = await tenants.get(session, tenant_slug)
    source_label, entries = await sources(session, tenant, from_tenant)
    if only:
        known = sorted({e.key for e in entries})
        unknown = [k for k in only if k not in known]
        if unknown:
            raise ValidationFailed(f"Unknown template key(s) for --only: {', '.join(unknown)}. "
                                   f"The source ({source_label}) has: {', '.join(known) or 'nothing'}.",
                                   errors=[{"field": "only", "message": f"unknown key(s): {', '.join(unknown)}"}])
        entries = [e for e in entries if e.key in only]
    planned = await plan(session, tenant, entries)
    rows: list[schemas.CloneRow] = []
    counts: dict[str, int] = {}
    blocked = 0
    for item in planned:
        counts[item.action] = counts.get(item.action, 0) + 1
        result = await _apply(session, tenant, item, publish=publish, force=force, dry_run=dry_run, actor=actor)
        if result.startswith("skipped"):
            blocked += 1
        rows.append(schemas.CloneRow(
            key=item.source.key, channel=item.source.channel, language=item.source.language,
            live_version=item.live_version, source=_source_label(item.source), action=item.action,
            result=result))
    parts = [f"{counts.get(a, 0)} {a}" for a in ("create", "update", "unchanged", "conflict")]
    mode = "dry run, nothing written" if dry_run else ("published" if publish else "as drafts")
    summary = f"{len(rows)} template(s) from {source_label} into {tenant.slug}: {', '.join(parts)} ({mode})"
    ok = not (publish and blocked)
    if blocked:
        summary += f"; {blocked} conflict(s) left alone — rerun with --force to overwrite the tenant's edits"
    return schemas.CloneReport(tenant=tenant.slug, source=source_label, dry_run=dry_run, publish=publish,
                               rows=rows, summary=summary, ok=ok)


async def _apply(session: AsyncSession, tenant: Tenant, item: PlannedClone, *, publish: bool, force: bool,
                 dry_run: bool, actor: str) -> str:
    verb = "would " if dry_run else ""
    if item.action == "unchanged":
        if publish and item.current is not None and item.current.status == "draft":
            if not dry_run:
                await service.publish(session, tenant, item.current.id, actor)
            return f"{verb}publish draft v{item.current.version}"
        return "nothing to do"
    if item.action == "conflict" and not force:
        return "skipped: edited by the tenant since the last clone"
    if dry_run:
        return f"{verb}{'publish' if publish else 'add draft'}"
    entry = item.source
    template = await service.ensure_template(session, tenant, entry.key, entry.channel, entry.language,
                                             entry.description)
    # A draft with exactly the source's content (an earlier clone without --publish) is reused, not duplicated.
    versions = await repository.versions(session, job_scope(tenant.id), [template.id])
    version = next((v for v in versions if v.status == "draft" and v.checksum == entry.checksum), None)
    if version is None:
        version = await service.new_version(session, template, entry.content, actor=actor, origin=entry.origin,
                                             source_checksum=entry.checksum)
    if publish:
        await service.publish(session, tenant, version.id, actor)
        return f"published v{version.version}"
    return f"draft v{version.version}"
