"""Worker and queue status as plain dicts: `crm workers status`, `GET /api/v1/automation/workers`, the status page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.runs import repository
from rentguy_crm.tenants.scope import Scope

# A worker that has not heartbeated for this long is reported dead (heartbeats come every lease/3).
ALIVE_WITHIN = dt.timedelta(seconds=90)


async def worker_status(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    rows = await repository.workers_seen_since(session, now - dt.timedelta(hours=24))
    workers = []
    for w in rows:
        age = (now - w.heartbeat_at).total_seconds()
        state = "stopped" if w.stopped_at else ("alive" if age <= ALIVE_WITHIN.total_seconds() else "dead")
        workers.append({"name": w.name, "hostname": w.hostname, "pid": w.pid, "state": state,
                        "heartbeat_age_s": round(age, 1), "started_at": w.started_at, "stopped_at": w.stopped_at,
                        "concurrency": w.concurrency, "tenant": w.tenant_filter, "workflow": w.workflow_filter,
                        "runs_done": w.runs_done})
    return {"alive": sum(1 for w in workers if w["state"] == "alive"), "workers": workers}


async def queue_status(session: AsyncSession, now: dt.datetime, scope: Scope) -> dict[str, Any]:
    """Per tenant and workflow: due runs (depth), age of the oldest due run (lag), running, waiting, paused."""
    flows: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(slug: str, key: str) -> dict[str, Any]:
        return flows.setdefault((slug, key), {"tenant": slug, "workflow": key, "depth": 0, "lag_s": 0.0,
                                              "running": 0, "waiting": 0, "paused": False})

    everything, due = await repository.active_counts(session, scope, now)
    for row in everything:
        e = entry(row.slug, row.workflow_key)
        if row.status in ("running", "waiting"):
            e[row.status] += row.n
    for row in due:
        if row.status == "running":
            continue  # a running run is due only when its lease expired; it is counted as running
        e = entry(row.slug, row.workflow_key)
        e["depth"] += row.n
        oldest = row.oldest if isinstance(row.oldest, dt.datetime) else None
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
            e["lag_s"] = max(e["lag_s"], round((now - oldest).total_seconds(), 3))
    paused = []
    for slug, pause in await repository.pauses_with_slugs(session, scope):
        entry(slug, pause.workflow_key)["paused"] = True
        paused.append({"tenant": slug, "workflow": pause.workflow_key, "paused_at": pause.paused_at,
                       "paused_by": pause.paused_by, "reason": pause.reason})
    # No gauges set here: /metrics reads queue depth, lag and pauses from the database at scrape time
    # (`queue_metrics.py`), the same in every process.
    workflows = sorted(flows.values(), key=lambda e: (e["tenant"], e["workflow"]))
    return {"depth": sum(e["depth"] for e in workflows), "max_lag_s": max((e["lag_s"] for e in workflows), default=0),
            "workflows": workflows, "paused": paused}


# The failure-rate rule the alerts and the watchdog use: more than 2% of a workflow's runs that finished in the
# last 10 minutes failed or died, counted once at least 20 finished.
FAILURE_WINDOW = dt.timedelta(minutes=10)
FAILURE_THRESHOLD = 0.02
FAILURE_MIN_FINISHED = 20
FAILED_STATUSES = ("failed", "dead")
FINISHED_STATUSES = ("succeeded", "failed", "dead", "cancelled")
# Dead runs need a person (retry or cancel); those of the last day count against the status page.
DEAD_WINDOW = dt.timedelta(hours=24)


def over_failure_line(finished: int, failed: int) -> bool:
    return finished >= FAILURE_MIN_FINISHED and failed > FAILURE_THRESHOLD * finished


async def automation_health(session: AsyncSession, now: dt.datetime, scope: Scope) -> dict[str, Any]:
    """Per tenant and workflow: failure rate over the last 10 minutes against the 2% line, dead runs of the last
    day, runs waiting to be retried, and whether the workflow is paused. For the status page."""
    flows: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(slug: str, key: str) -> dict[str, Any]:
        return flows.setdefault((slug, key), {"tenant": slug, "workflow": key, "finished": 0, "failed": 0,
                                              "failure_rate": 0.0, "over_2_percent": False, "dead_24h": 0,
                                              "retrying": 0, "paused": False})

    for slug, key, total, failures in await repository.finished_counts_by_slug(
            session, scope, FINISHED_STATUSES, FAILED_STATUSES, now - FAILURE_WINDOW, now):
        e = entry(slug, key)
        e["finished"], e["failed"] = int(total), int(failures or 0)
        e["failure_rate"] = round(e["failed"] / e["finished"], 4) if e["finished"] else 0.0
        e["over_2_percent"] = over_failure_line(e["finished"], e["failed"])
    for slug, key, count in await repository.dead_counts(session, scope, now - DEAD_WINDOW):
        entry(slug, key)["dead_24h"] = int(count)
    # A queued run that has spent an attempt is waiting for its retry (the backoff after a failure).
    for slug, key, count in await repository.retrying_counts(session, scope):
        entry(slug, key)["retrying"] = int(count)
    for slug, pause in await repository.pauses_with_slugs(session, scope):
        e = entry(slug, pause.workflow_key)
        e["paused"] = True
        e["paused_at"], e["paused_by"], e["pause_reason"] = pause.paused_at, pause.paused_by, pause.reason
    return {"workflows": sorted(flows.values(), key=lambda e: (e["tenant"], e["workflow"]))}
