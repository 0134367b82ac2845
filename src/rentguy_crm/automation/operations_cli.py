"""`crm workers run|status`, `crm workflows pause|resume`, `crm runs list|show|start|retry|cancel`."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import typer

from rentguy_crm.automation.cli import runs_app, workers_app, workflows_app
from rentguy_crm.db import one_off_session, utcnow
from rentguy_crm.kit.console import (
    CommandGroup,
    JsonOption,
    console,
    emit,
    fail,
    format_time,
    print_json,
    run_async,
    use_zone,
)
from rentguy_crm.kit.inputs import MAX_ID, bounded_duration

CLI_ACTOR = "cli"


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return CLI_ACTOR


async def _tenant(session: Any, slug: str) -> Any:
    from rentguy_crm.tenants.repository import get

    tenant = await get(session, slug)
    use_zone(tenant.timezone)  # times in this command's tables are the tenant's local time
    return tenant


# -- workers -----------------------------------------------------------------------------------------------------


@workers_app.command("run")
def workers_run(
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Runs executed at the same time."),
    tenant: str = typer.Option(None, "--tenant", help="Only this tenant's runs (slug)."),
    workflow: str = typer.Option(None, "--workflow", help="Only this workflow's runs (key)."),
    grace: float = typer.Option(20.0, "--grace", help="Seconds in-flight steps get to finish on SIGTERM/SIGINT."),
    lease: float = typer.Option(30.0, "--lease", help="Lease length in seconds; a dead worker's runs return "
                                                      "to the queue after it."),
    poll: float = typer.Option(1.0, "--poll", help="Seconds between polls when idle (Postgres also wakes on "
                                                   "NOTIFY)."),
    batch: int = typer.Option(None, "--batch", help="Runs claimed per query (default: --concurrency)."),
    plugin: list[str] = typer.Option([], "--plugin", help="Import this module first (registers step handlers or "
                                                          "scheduled jobs). Repeatable; also CRM_AUTOMATION_PLUGINS."),
    no_schedules: bool = typer.Option(False, "--no-schedules", help="Do not run scheduled jobs in this worker."),
    metrics_port: int = typer.Option(None, "--metrics-port", min=0, max=65535,
                                     help="Serve this worker's Prometheus metrics on this port (0: a free one). "
                                          "Off by default."),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host",
                                     help="Address the metrics port binds to (0.0.0.0 for a remote Prometheus)."),
) -> None:
    """Run automation workers until SIGTERM/SIGINT; then finish in-flight steps, release the rest, exit 0."""
    from rentguy_crm.automation.worker import Worker, load_plugins

    load_plugins(plugin)
    if metrics_port is not None:
        from rentguy_crm.observability.exporter import start_worker_metrics

        try:
            _server, _thread, bound = start_worker_metrics(metrics_port, addr=metrics_host)
        except OSError as exc:  # port taken, address not on this host
            raise fail(f"--metrics-port: cannot serve metrics on {metrics_host}:{metrics_port}: {exc.strerror}",
                       code=2) from None
        console.print(f"worker metrics on http://{metrics_host}:{bound}/metrics", highlight=False)

    async def go() -> None:
        worker = Worker(concurrency=concurrency, tenant=tenant, workflow=workflow, grace=grace,
                        lease=dt.timedelta(seconds=lease), poll_interval=poll, batch_size=batch,
                        schedules_enabled=not no_schedules)
        worker.install_signal_handlers()
        console.print(f"worker {worker.name} started (concurrency {concurrency}"
                      f"{', tenant ' + tenant if tenant else ''}{', workflow ' + workflow if workflow else ''})",
                      highlight=False)
        await worker.run()

    asyncio.run(go())


@workers_app.command("status")
def workers_status(
    tenant: str = typer.Option(None, "--tenant", help="Only this tenant's queue."),
    as_json: bool = JsonOption,
) -> None:
    """Workers alive (heartbeat age), queue depth and lag per workflow, paused workflows."""
    from rentguy_crm.automation.status import queue_status, worker_status

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            now = utcnow()
            tenant_id = (await _tenant(session, tenant)).id if tenant else None
            return {"workers": await worker_status(session, now),
                    "queue": await queue_status(session, now, tenant_id)}

    data = run_async(go)
    if as_json:
        print_json(data)
        return
    emit(data["workers"]["workers"], as_json=False, title=f"workers ({data['workers']['alive']} alive)",
         columns=["name", "state", "heartbeat_age_s", "concurrency", "tenant", "workflow", "runs_done"])
    emit(data["queue"]["workflows"], as_json=False, title="queue per workflow",
         columns=["tenant", "workflow", "depth", "lag_s", "running", "waiting", "paused"])
    emit(data["queue"]["paused"], as_json=False, title="paused workflows",
         columns=["tenant", "workflow", "paused_at", "paused_by", "reason"])


# -- workflows pause / resume --------------------------------------------------------------------------------------


@workflows_app.command("pause")
def workflows_pause(
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug, e.g. mrdj."),
    workflow: str = typer.Option(..., "--workflow", help="Workflow key, e.g. lead_intake."),
    reason: str = typer.Option(None, "--reason", help="Why (kept with the pause and in the audit log)."),
    as_json: bool = JsonOption,
) -> None:
    """Pause a workflow: workers claim none of its runs; new runs still queue; nothing is dropped."""
    from rentguy_crm.automation import service

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            t = await _tenant(session, tenant)
            now = utcnow()
            pause = await service.pause_workflow(session, t, workflow, actor=_actor(), reason=reason, now=now)
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
    from rentguy_crm.automation import service

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            t = await _tenant(session, tenant)
            was_paused = await service.resume_workflow(session, t, workflow, actor=_actor())
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
    from rentguy_crm.automation import service

    try:
        window = bounded_duration(since) if since else None
    except ValueError as exc:
        raise fail(f"--since: {exc}", code=2) from None

    async def go() -> tuple[list[dict[str, Any]], int]:
        async with one_off_session(read_only=True) as session:
            tenant_id = (await _tenant(session, tenant)).id if tenant else None
            rows, total = await service.list_runs(session, tenant_id, workflow=workflow, status=status,
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
    from rentguy_crm.automation import service

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            return service.run_detail(await service.get_run(session, None, run_id))

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
    from sqlalchemy import select

    from rentguy_crm.audit import service as audit
    from rentguy_crm.automation import service
    from rentguy_crm.automation.dispatch import start_manual_run
    from rentguy_crm.crm.models import Deal, Lead
    from rentguy_crm.tenants.models import Tenant

    if (lead is None) == (deal is None):
        raise fail("give exactly one of --lead ID or --deal ID", code=2)

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            model = Lead if lead is not None else Deal
            subject_id = lead if lead is not None else deal
            tenant_id = await session.scalar(select(model.tenant_id).where(model.id == subject_id))
            if tenant_id is None:
                raise fail(f"no {'lead' if lead is not None else 'deal'} {subject_id}")
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None
            run = await start_manual_run(session, tenant, workflow, lead_id=lead, deal_id=deal)
            await audit.record(session, actor=_actor(), action="automation.run.start", entity_type="automation_run",
                               entity_id=run.id, tenant_id=tenant_id, after={"workflow": workflow, "lead_id": lead,
                                                                             "deal_id": deal})
            return service.run_summary(run)

    emit(run_async(go), as_json=as_json, columns=RUN_COLUMNS, title="run started")


@runs_app.command("retry")
def runs_retry(run_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Run id."),
               as_json: bool = JsonOption) -> None:
    """Queue a failed, dead or cancelled run again; it resumes after its last completed step."""
    from rentguy_crm.automation import service

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            return service.run_summary(await service.retry_run(session, None, run_id, actor=_actor(), now=utcnow()))

    emit(run_async(go), as_json=as_json, columns=RUN_COLUMNS, title="run queued again")


@runs_app.command("cancel")
def runs_cancel(run_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Run id."),
                as_json: bool = JsonOption) -> None:
    """Cancel a queued, waiting or running run."""
    from rentguy_crm.automation import service

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            return service.run_summary(await service.cancel_run(session, None, run_id, actor=_actor(), now=utcnow()))

    emit(run_async(go), as_json=as_json, columns=RUN_COLUMNS, title="run cancelled")


# -- the playbook's door: automation/workers.py pause|resume|status|run -------------------------------------------

playbook_app = typer.Typer(
    help="Automation workers (playbook 2.2): pause or resume a workflow, see worker status, run workers. "
         "Same commands as 'crm workflows pause|resume' and 'crm workers status|run'.",
    no_args_is_help=True, pretty_exceptions_enable=False, cls=CommandGroup,
)
playbook_app.command("pause")(workflows_pause)
playbook_app.command("resume")(workflows_resume)
playbook_app.command("status")(workers_status)
playbook_app.command("run")(workers_run)
