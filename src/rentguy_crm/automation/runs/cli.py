"""`crm runs list|show|start|retry|cancel` and `crm workflows pause|resume` (a pause stops the claims of a
workflow's runs)."""

from __future__ import annotations

from typing import Any

import typer

from rentguy_crm.audit import service as audit
from rentguy_crm.automation.runs import repository, service
from rentguy_crm.automation.workflows.cli import workflows_app
from rentguy_crm.crm.models import Deal, Lead
from rentguy_crm.db import one_off_session, utcnow
from rentguy_crm.kit.console import (
    JsonOption,
    cli_actor,
    console,
    emit,
    fail,
    format_time,
    print_json,
    run_async,
    use_zone,
)
from rentguy_crm.kit.inputs import MAX_ID, bounded_duration
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import AllTenants, TenantScope

runs_app = typer.Typer(help="Automation runs (crm_automation_runs): list, show, start, retry, cancel.",
                       no_args_is_help=True)

async def tenant_in_its_zone(session: Any, slug: str) -> Any:
    """The tenant (slug or alias); times in this command's tables are then the tenant's local time."""
    tenant = await tenants.get(session, slug)
    use_zone(tenant.timezone)
    return tenant


# -- workflows pause / resume --------------------------------------------------------------------------------------


@workflows_app.command("pause")
def workflows_pause(
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug, e.g. mrdj."),
    workflow: str = typer.Option(..., "--workflow", help="Workflow key, e.g. lead_intake."),
    reason: str = typer.Option(None, "--reason", help="Why (kept with the pause and in the audit log)."),
    as_json: bool = JsonOption,
) -> None:
    """Pause a workflow: workers claim none of its runs; new runs still queue; nothing is dropped."""
    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            t = await tenant_in_its_zone(session, tenant)
            now = utcnow()
            pause = await service.pause_workflow(session, t, workflow, actor=cli_actor(), reason=reason, now=now)
            return {"tenant": t.slug, "workflow": workflow, "paused": True, "paused_at": pause.paused_at,
                    "paused_by": pause.paused_by, "reason": pause.reason, "already_paused": pause.paused_at != now}

    data = run_async(go)
    if as_json:
        print_json(data)
    elif data["already_paused"]:
        console.print(f"{data['tenant']}/{workflow} was already paused since {format_time(data['paused_at'])} by "
                      f"{data['paused_by']} ({data['reason'] or 'no reason given'}); nothing changed", highlight=False)
    else:
        console.print(f"{data['tenant']}/{workflow} paused: queued runs wait until "
                      f"'crm workflows resume --tenant {data['tenant']} --workflow {workflow}'", highlight=False)


@workflows_app.command("resume")
def workflows_resume(
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug, e.g. mrdj."),
    workflow: str = typer.Option(..., "--workflow", help="Workflow key, e.g. lead_intake."),
    as_json: bool = JsonOption,
) -> None:
    """Resume a paused workflow: workers drain its queued runs."""
    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            t = await tenant_in_its_zone(session, tenant)
            was_paused = await service.resume_workflow(session, t, workflow, actor=cli_actor())
            return {"tenant": t.slug, "workflow": workflow, "paused": False, "was_paused": was_paused}

    data = run_async(go)
    if as_json:
        print_json(data)
    else:
        console.print(f"{data['tenant']}/{workflow} " + ("resumed" if data["was_paused"] else "was not paused"),
                      highlight=False)


# -- runs ------------------------------------------------------------------------------------------------------------

RUN_COLUMNS = ["id", "workflow", "status", "attempt", "lead_id", "deal_id", "created_at", "completed_at",
               "last_error_type", "last_error_message"]


@runs_app.command("list")
def runs_list(
    tenant: str = typer.Option(None, "--tenant", help="Tenant slug (default: all tenants)."),
    workflow: str = typer.Option(None, "--workflow", help="Workflow key."),
    status: str = typer.Option(None, "--status", help="queued, running, waiting, succeeded, failed, dead, cancelled."),
    since: str = typer.Option(None, "--since", help="Only runs created within this long ago, e.g. 1h, 2 days."),
    lead: int = typer.Option(None, "--lead", min=1, max=MAX_ID, help="Only runs of this lead."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many (newest first)."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many of the newest first (the next page)."),
    as_json: bool = JsonOption,
) -> None:
    """Runs, newest first. The table says how many of how many are shown; --json prints the API's page
    {items, total, limit, offset}."""
    try:
        window = bounded_duration(since) if since else None
    except ValueError as exc:
        raise fail(f"--since: {exc}", code=2) from None

    async def go() -> tuple[list[dict[str, Any]], int]:
        async with one_off_session(read_only=True) as session:
            scope = TenantScope((await tenant_in_its_zone(session, tenant)).id) if tenant else AllTenants()
            rows, total = await service.list_runs(session, scope, workflow=workflow, status=status,
                                                  since=utcnow() - window if window else None, lead_id=lead,
                                                  limit=limit, offset=offset)
            return [service.run_summary(r) for r in rows], total

    runs, total = run_async(go)
    if as_json:
        print_json({"items": runs, "total": total, "limit": limit, "offset": offset})  # the API's page shape
        return
    emit(runs, as_json=False, columns=RUN_COLUMNS, title="automation runs", total=total, offset=offset,
         noun="runs")


@runs_app.command("show")
def runs_show(run_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Run id."), as_json: bool = JsonOption) -> None:
    """One run with its step log."""
    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            return service.run_detail(await service.get_run(session, AllTenants(), run_id))

    data = run_async(go)
    if as_json:
        print_json(data)
        return
    summary = {k: v for k, v in data.items() if k not in ("step_log", "context")}
    emit([{"field": k, "value": v} for k, v in summary.items()], as_json=False, columns=["field", "value"],
         title=f"run {run_id}")
    emit([{**e, "detail": e.get("error") or e.get("output") or _attempt_detail(e)} for e in data["step_log"]],
         as_json=False,
         columns=["step", "type", "name", "status", "attempt", "at", "duration_ms", "detail"], title="step log")


def _attempt_detail(entry: dict[str, Any]) -> str | None:
    """What a `started` entry says: the key the channel got, and earlier attempts that never finished."""
    if not entry.get("idempotency_key"):
        return None
    unfinished = entry.get("unfinished_attempts")
    return f"key {entry['idempotency_key']}" + (f"; unfinished earlier attempts {unfinished}" if unfinished else "")


@runs_app.command("start")
def runs_start(
    workflow: str = typer.Option(..., "--workflow", help="Workflow key, e.g. lead_intake."),
    lead: int = typer.Option(None, "--lead", min=1, max=MAX_ID, help="Lead id (the subject)."),
    deal: int = typer.Option(None, "--deal", min=1, max=MAX_ID, help="Deal id (the subject)."),
    as_json: bool = JsonOption,
) -> None:
    """Start a run by hand for a lead or a deal (its tenant's current workflow version)."""
    if (lead is None) == (deal is None):
        raise fail("give exactly one of --lead ID or --deal ID", code=2)

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            model = Lead if lead is not None else Deal
            subject_id = lead if lead is not None else deal
            assert subject_id is not None
            # An operator's command: the subject may be any tenant's; the run is its tenant's.
            tenant_id = await repository.tenant_of_subject(session, AllTenants(), model, subject_id)
            if tenant_id is None:
                raise fail(f"no {'lead' if lead is not None else 'deal'} {subject_id}")
            tenant = await tenants.by_id(session, tenant_id)
            assert tenant is not None
            run = await service.start_manual_run(session, tenant, workflow, lead_id=lead, deal_id=deal)
            await audit.record(session, actor=cli_actor(), action="automation.run.start", entity_type="automation_run",
                               entity_id=run.id, tenant_id=tenant_id, after={"workflow": workflow, "lead_id": lead,
                                                                             "deal_id": deal})
            return service.run_summary(run)

    emit(run_async(go), as_json=as_json, columns=RUN_COLUMNS, title="run started")


@runs_app.command("retry")
def runs_retry(run_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Run id."),
               as_json: bool = JsonOption) -> None:
    """Queue a failed, dead or cancelled run again; it resumes after its last completed step."""
    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            run = await service.retry_run(session, AllTenants(), run_id, actor=cli_actor(), now=utcnow())
            return service.run_summary(run)

    emit(run_async(go), as_json=as_json, columns=RUN_COLUMNS, title="run queued again")


@runs_app.command("cancel")
def runs_cancel(run_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Run id."),
                as_json: bool = JsonOption) -> None:
    """Cancel a queued, waiting or running run."""
    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            run = await service.cancel_run(session, AllTenants(), run_id, actor=cli_actor(), now=utcnow())
            return service.run_summary(run)

    emit(run_async(go), as_json=as_json, columns=RUN_COLUMNS, title="run cancelled")
