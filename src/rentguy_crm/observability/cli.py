"""`crm observability …`: run the failure-rate watchdog once (cron or by hand), print the metrics exposition."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer

from rentguy_crm.db import one_off_session, utcnow
from rentguy_crm.kit.console import JsonOption, emit, run_async
from rentguy_crm.observability.exporter import render
from rentguy_crm.observability.queue_state import database_families
from rentguy_crm.observability.slack_notify import ops_notifier_for
from rentguy_crm.observability.watchdog import check_failure_rates

app = typer.Typer(help="Monitoring: the failure-rate watchdog and the metrics exposition.", no_args_is_help=True)


@app.command("watchdog")
def watchdog_command(as_json: bool = JsonOption) -> None:
    """Check every workflow's failure rate over the last 10 minutes; post changes to the tenant's ops channel.

    Meant to run every minute (scheduled job or `* * * * *` cron) for tenants without Prometheus.
    """

    async def go() -> list[dict[str, Any]]:
        async with one_off_session() as session:
            return [asdict(t) for t in await check_failure_rates(session, utcnow(), ops_notifier_for)]

    emit(run_async(go), as_json=as_json,
         columns=["tenant", "workflow", "state", "failure_rate", "finished_runs", "failed_runs", "notified"],
         title="Watchdog state changes")


@app.command("metrics")
def metrics_command() -> None:
    """Print what /metrics would answer (database-derived gauges included)."""
    import sys


    async def go() -> bytes:
        async with one_off_session() as session:
            return render(await database_families(session, utcnow()))

    sys.stdout.write(run_async(go).decode())
