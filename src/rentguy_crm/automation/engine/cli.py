"""`crm workers run|status` and the playbook's door `automation/workers.py pause|resume|status|run`."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import typer

from rentguy_crm.automation.engine.worker import Worker, load_plugins
from rentguy_crm.automation.runs.cli import tenant_in_its_zone, workflows_pause, workflows_resume
from rentguy_crm.automation.runs.status import queue_status, worker_status
from rentguy_crm.db import one_off_session, utcnow
from rentguy_crm.kit.console import CommandGroup, JsonOption, console, emit, fail, print_json, run_async
from rentguy_crm.tenants.scope import AllTenants, TenantScope

workers_app = typer.Typer(help="Automation workers: run them, see their status.", no_args_is_help=True)


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
    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            now = utcnow()
            scope = TenantScope((await tenant_in_its_zone(session, tenant)).id) if tenant else AllTenants()
            return {"workers": await worker_status(session, now),
                    "queue": await queue_status(session, now, scope)}

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
