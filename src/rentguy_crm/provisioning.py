"""A working tenant from its config file: the tenant with its pipelines, its workflows from the library and the
base templates published, so the first lead's runs have something to send.

Idempotent: a second provision with the same file changes nothing and says so. Templates the tenant edited since
they were cloned are never overwritten (they are reported as kept); a library template that changed replaces a
copy the tenant did not touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.automation.workflows import service as workflows
from rentguy_crm.crm.provisioning import provision_pipelines
from rentguy_crm.db import one_off_session
from rentguy_crm.kit.console import JsonOption, console, emit, fail, run_async
from rentguy_crm.templates import cloning
from rentguy_crm.templates.schemas import CloneReport
from rentguy_crm.tenants import service as tenants
from rentguy_crm.tenants.config import TenantConfig, TenantConfigError, load_config
from rentguy_crm.tenants.scope import TenantScope


@dataclass
class TenantSetup:
    tenant: tenants.ProvisionReport
    workflows: workflows.SyncReport | None
    templates: CloneReport | None

    @property
    def template_changes(self) -> list[str]:
        if self.templates is None:
            return []
        return [f"{r.key} ({r.channel}, {r.language}): {r.result}" for r in self.templates.rows
                if r.action in ("create", "update") or r.result.startswith("publish")]

    @property
    def templates_kept(self) -> list[str]:
        """Templates the tenant edited by hand: left as they are."""
        if self.templates is None:
            return []
        return [f"{r.key} ({r.channel}, {r.language})" for r in self.templates.rows if r.action == "conflict"]

    @property
    def changed(self) -> bool:
        return bool(self.tenant.changed or (self.workflows and self.workflows.changed) or self.template_changes)

    def as_dict(self) -> dict[str, Any]:
        return {**self.tenant.as_dict(), "changed": self.changed,
                "workflows": self.workflows.as_dict() if self.workflows else None,
                "templates": {"changed": self.template_changes, "kept": self.templates_kept,
                              "summary": self.templates.summary} if self.templates else None}


async def provision_tenant(session: AsyncSession, config: TenantConfig, *,
                           actor: str = "cli") -> tenants.ProvisionReport:
    """The tenant row and its pipelines and stages from `config`; idempotent, reports what changed."""
    report = tenants.ProvisionReport(tenant=config.slug)
    change = await tenants.provision_tenant(session, config, report)
    tenant = change.tenant
    if change.action is not None:
        await audit.record(session, actor=actor, action=change.action, entity_type="tenant", entity_id=tenant.id,
                           tenant_id=tenant.id, before=change.before, after=change.after)
    # An operator's command: the tenant it just provisioned is the scope it writes in.
    await provision_pipelines(session, TenantScope(tenant.id), config, report)
    return report


async def provision(session: AsyncSession, config: TenantConfig, *, with_workflows: bool = True,
                    with_templates: bool = True, actor: str = "cli") -> TenantSetup:
    report = await provision_tenant(session, config, actor=actor)
    synced = await workflows.sync(session, config.slug, actor=actor) if with_workflows else None
    cloned = await cloning.clone(session, config.slug, publish=True, actor=actor) if with_templates else None
    return TenantSetup(report, synced, cloned)


def provision_command(
    config_file: Path = typer.Argument(..., help="Tenant config, e.g. configs/tenants/mrdj.json"),
    no_templates: bool = typer.Option(False, "--no-templates",
                                      help="Do not clone and publish the base templates."),
    no_workflows: bool = typer.Option(False, "--no-workflows",
                                      help="Do not sync the workflow library to the tenant."),
    as_json: bool = JsonOption,
) -> None:
    """Create or update a tenant from its config file, with its workflows and the base templates published.
    Safe to run again: it never duplicates and never overwrites templates the tenant edited."""
    try:
        config = load_config(config_file)
    except TenantConfigError as exc:
        raise fail(str(exc)) from None

    async def go() -> TenantSetup:
        async with one_off_session() as session:
            return await provision(session, config, with_workflows=not no_workflows,
                                   with_templates=not no_templates)

    setup = run_async(go)
    if as_json:
        emit(setup.as_dict(), as_json=True)
        return
    for item in setup.tenant.created:
        console.print(f"[green]created[/green]  {item}", highlight=False)
    for item in setup.tenant.updated:
        console.print(f"[yellow]updated[/yellow]  {item}", highlight=False)
    if setup.workflows is not None:
        for item in setup.workflows.created:
            console.print(f"[green]created[/green]  workflow {item}", highlight=False)
        for item in setup.workflows.updated:
            console.print(f"[yellow]updated[/yellow]  workflow {item}", highlight=False)
    for item in setup.template_changes:
        console.print(f"[green]template[/green] {item}", highlight=False)
    for item in setup.templates_kept:
        console.print(f"[yellow]kept[/yellow]     template {item}: edited by the tenant, not overwritten",
                      highlight=False)
    verdict = "changed" if setup.changed else "already up to date, nothing changed"
    skipped = [what for what, off in (("workflows", no_workflows), ("templates", no_templates)) if off]
    console.print(f"tenant {setup.tenant.tenant}: {len(setup.tenant.created)} created, "
                  f"{len(setup.tenant.updated)} updated, {len(setup.template_changes)} template change(s); "
                  f"{verdict}" + (f" ({' and '.join(skipped)} left out)" if skipped else ""), highlight=False)
