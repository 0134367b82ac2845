"""Worker and queue status as plain dicts: `crm workers status`, `GET /api/v1/automation/workers`, the status page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.models import AutomationRun, WorkerRecord, WorkflowPause
from rentguy_crm.tenants.models import Tenant

# A worker that has not heartbeated for this long is reported dead (heartbeats come every lease/3).
ALIVE_WITHIN = dt.timedelta(seconds=90)


async def worker_status(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    recent = now - dt.timedelta(hours=24)
    rows = (await session.scalars(select(WorkerRecord).where(WorkerRecord.heartbeat_at >= recent)
                                  .order_by(WorkerRecord.started_at))).all()
    workers = []
    for w in rows:
        age = (now - w.heartbeat_at).total_seconds()
        state = "stopped" if w.stopped_at else ("alive" if age <= ALIVE_WITHIN.total_seconds() else "dead")
        workers.append({"name": w.name, "hostname": w.hostname, "pid": w.pid, "state": state,
                        "heartbeat_age_s": round(age, 1), "started_at": w.started_at, "stopped_at": w.stopped_at,
                        "concurrency": w.concurrency, "tenant": w.tenant_filter, "workflow": w.workflow_filter,
                        "runs_done": w.runs_done})
    return {"alive": sum(1 for w in workers if w["state"] == "alive"), "workers": workers}


async def queue_status(session: AsyncSession, now: dt.datetime, tenant_id: int | None = None) -> dict[str, Any]:
    """Per tenant and workflow: due runs (depth), age of the oldest due run (lag), running, waiting, paused."""
    base = select(Tenant.slug, AutomationRun.workflow_key, AutomationRun.status,
                  func.count().label("n"), func.min(AutomationRun.run_after).label("oldest")) \
        .join(Tenant, Tenant.id == AutomationRun.tenant_id) \
        .where(AutomationRun.status.in_(("queued", "running", "waiting")))
    if tenant_id is not None:
        base = base.where(AutomationRun.tenant_id == tenant_id)
    due = base.where(AutomationRun.run_after <= now) \
        .group_by(Tenant.slug, AutomationRun.workflow_key, AutomationRun.status)
    everything = base.group_by(Tenant.slug, AutomationRun.workflow_key, AutomationRun.status)
    flows: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(slug: str, key: str) -> dict[str, Any]:
        return flows.setdefault((slug, key), {"tenant": slug, "workflow": key, "depth": 0, "lag_s": 0.0,
                                              "running": 0, "waiting": 0, "paused": False})

    for row in (await session.execute(everything)).all():
        e = entry(row.slug, row.workflow_key)
        if row.status in ("running", "waiting"):
            e[row.status] += row.n
    for row in (await session.execute(due)).all():
        if row.status == "running":
            continue  # a running run is due only when its lease expired; it is counted as running
        e = entry(row.slug, row.workflow_key)
        e["depth"] += row.n
        oldest = row.oldest if isinstance(row.oldest, dt.datetime) else None
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.UTC)
            e["lag_s"] = max(e["lag_s"], round((now - oldest).total_seconds(), 3))
    pauses_q = select(Tenant.slug, WorkflowPause).join(Tenant, Tenant.id == WorkflowPause.tenant_id)
    if tenant_id is not None:
        pauses_q = pauses_q.where(WorkflowPause.tenant_id == tenant_id)
    paused = []
    for slug, pause in (await session.execute(pauses_q)).all():
        entry(slug, pause.workflow_key)["paused"] = True
        paused.append({"tenant": slug, "workflow": pause.workflow_key, "paused_at": pause.paused_at,
                       "paused_by": pause.paused_by, "reason": pause.reason})
    # No gauges set here: /metrics reads queue depth, lag and pauses from the database at scrape time
    # (observability/queue_state.py), the same in every process.
    workflows = sorted(flows.values(), key=lambda e: (e["tenant"], e["workflow"]))
    return {"depth": sum(e["depth"] for e in workflows), "max_lag_s": max((e["lag_s"] for e in workflows), default=0),
            "workflows": workflows, "paused": paused}
