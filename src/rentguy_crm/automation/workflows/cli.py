"""`crm workflows validate|sync|list|show`: the workflow library and its stored versions. (`pause` and `resume`
act on runs and live in `runs.cli`.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rentguy_crm.automation.workflows import library, service
from rentguy_crm.db import one_off_session
from rentguy_crm.kit.console import JsonOption, console, emit, print_json, run_async

workflows_app = typer.Typer(help="Workflow library: validate, sync, list, show, pause, resume.", no_args_is_help=True)

TenantOption = typer.Option(..., "--tenant", help="Tenant slug or alias, e.g. mrdj.")


@workflows_app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(None, help="Workflow files or folders (default: automation/workflows)."),
    tenant: str = typer.Option(None, "--tenant", help="Also check deal.stage.<stage> triggers against this "
                                                      "tenant's pipelines (needs the database)."),
    as_json: bool = JsonOption,
) -> None:
    """Check workflow files; print every problem as file:line: message. Exit 1 when there are errors."""
    loaded = library.load_library(paths or None)
    if tenant:
        async def stages() -> list[str]:
            async with one_off_session() as session:
                return await service.tenant_stage_keys(session, tenant)

        loaded.problems.extend(library.check_against_stages(loaded, run_async(stages), tenant))
    errors, warnings = loaded.errors, loaded.warnings
    if as_json:
        print_json({"files": loaded.files, "workflows": [w.definition.key for w in loaded.workflows],
                    "run_rules": {w.definition.key: {"once_per": w.definition.once_per,
                                                     "on_new_run": w.definition.on_new_run}
                                  for w in loaded.workflows},
                    "errors": len(errors), "warnings": len(warnings),
                    "problems": [p.as_dict() for p in loaded.problems]})
    else:
        # Plain lines, never wrapped: editors and CI jump to `file:line:`.
        for problem in loaded.problems:
            typer.echo(str(problem), err=problem.severity == "error")
        for workflow in loaded.workflows:  # how many runs a workflow makes, where it differs from the default
            rules = workflow.definition
            if rules.once_per != "change" or rules.on_new_run != "keep":
                typer.echo(f"{rules.key}: once_per {rules.once_per}, on_new_run {rules.on_new_run}")
        if not errors:
            typer.echo(f"{len(loaded.workflows)} workflow(s) valid in {len(loaded.files)} file(s)"
                       + (f", {len(warnings)} warning(s)" if warnings else ""))
        else:
            typer.echo(f"{len(errors)} error(s), {len(warnings)} warning(s)", err=True)
    if errors:
        raise typer.Exit(1)


@workflows_app.command("sync")
def sync(tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Store each library workflow as a new version when it changed; runs keep the version they started with."""

    async def go() -> service.SyncReport:
        async with one_off_session() as session:
            return await service.sync(session, tenant)

    report = run_async(go)
    if as_json:
        print_json(report.as_dict())
        return
    for item in report.created:
        console.print(f"[green]created[/green]    {item}")
    for item in report.updated:
        console.print(f"[yellow]updated[/yellow]    {item}")
    for item in report.unchanged:
        console.print(f"[dim]unchanged[/dim]  {item}")
    for item in report.not_in_library:
        console.print(f"[dim]not in library (left as is)[/dim]  {item}")
    console.print(f"tenant {report.tenant}: {len(report.created)} created, {len(report.updated)} updated, "
                  f"{len(report.unchanged)} unchanged")


@workflows_app.command("list")
def list_workflows(
    tenant: str = typer.Option(None, "--tenant", help="Tenant slug; without it the library files are listed."),
    as_json: bool = JsonOption,
) -> None:
    """List workflows: a tenant's current versions, or the library files."""

    async def go() -> list[dict[str, Any]]:
        async with one_off_session() as session:
            return await service.list_for_tenant(session, tenant)

    rows = run_async(go) if tenant else service.list_library()
    columns = ["key", "version", "name", "triggers", "sla", "enabled", "library"] if tenant else \
        ["key", "file", "name", "triggers", "sla", "enabled"]
    emit(rows, as_json=as_json, columns=columns, title=f"Workflows of {tenant}" if tenant else "Workflow library")


@workflows_app.command("show")
def show(
    key: str = typer.Argument(..., help="Workflow key, e.g. lead_intake."),
    tenant: str = typer.Option(None, "--tenant", help="Tenant slug; without it the library file is shown."),
    version: int = typer.Option(None, "--version", min=1, max=2**31 - 1,
                                help="A stored version (default: the current one)."),
    as_json: bool = JsonOption,
) -> None:
    """Show a workflow: triggers, retry, SLA and its steps with their step numbers."""

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            return await service.describe_stored(session, tenant, key, version)

    data = run_async(go) if tenant else run_async(_library_description(key))
    if as_json:
        print_json(data)
        return
    head = {k: data[k] for k in ("key", "version", "name", "enabled", "sla", "once_per", "on_new_run") if k in data}
    head["checksum"] = str(data.get("checksum", ""))[:12]
    emit(head, as_json=False, title=f"Workflow {key}")
    emit(data["triggers"], as_json=False, columns=["event", "condition"], title="Triggers")
    emit(data["retry"], as_json=False, title="Retry policy")
    emit(data["program"], as_json=False, columns=["step", "op", "type", "label", "detail", "next_if_false"],
         title="Steps")


def _library_description(key: str) -> Any:
    async def go() -> dict[str, Any]:
        return service.describe_library(key)

    return go
