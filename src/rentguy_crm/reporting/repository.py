"""Every query of the reports: the figures over `crm_automation_runs` (SQL on PostgreSQL and SQLite, with the same
meaning as the reporting views of migration `2025_03_05_reporting_views`), the report archive and the feedback
items. Each query takes the tenant id; none reads across tenants."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.db import UTCDateTime
from rentguy_crm.reporting.models import FeedbackItem, Report
from rentguy_crm.templates.models import Template
from rentguy_crm.tenants.models import Tenant

FINISHED = "('succeeded', 'failed', 'dead')"

# "Within SLA" and "within 2 minutes" exactly as `crm_report_automation_sla_weekly` says them, per database.
WITHIN_SLA = {
    "postgresql": "r.status = 'succeeded' AND ((r.sla_due_at IS NOT NULL AND r.completed_at <= r.sla_due_at) "
                  "OR (r.sla_due_at IS NULL AND NOT r.sla_breached))",
    "sqlite": "r.status = 'succeeded' AND ((r.sla_due_at IS NOT NULL "
              "AND julianday(r.completed_at) <= julianday(r.sla_due_at)) "
              "OR (r.sla_due_at IS NULL AND NOT r.sla_breached))",
}
WITHIN_2M = {
    "postgresql": "r.status = 'succeeded' AND r.completed_at <= r.created_at + INTERVAL '2 minutes'",
    "sqlite": "r.status = 'succeeded' AND julianday(r.completed_at) <= julianday(r.created_at) + 120.0 / 86400",
}
# Step-log entries with a duration, one row each (`duration_ms` is written by the executor for every outcome).
STEP_ENTRIES = {
    "postgresql": """
SELECT r.workflow_key AS workflow, e.entry ->> 'name' AS step, e.entry ->> 'type' AS step_type,
       CAST(e.entry ->> 'duration_ms' AS DOUBLE PRECISION) AS duration_ms
FROM crm_automation_runs r
CROSS JOIN LATERAL jsonb_array_elements(r.step_log) AS e(entry)
WHERE r.tenant_id = :tenant_id AND r.created_at >= :start AND r.created_at < :end
  AND jsonb_typeof(r.step_log) = 'array' AND e.entry ->> 'duration_ms' IS NOT NULL
""",
    "sqlite": """
SELECT r.workflow_key AS workflow, json_extract(e.value, '$.name') AS step,
       json_extract(e.value, '$.type') AS step_type,
       CAST(json_extract(e.value, '$.duration_ms') AS REAL) AS duration_ms
FROM crm_automation_runs r, json_each(r.step_log) AS e
WHERE r.tenant_id = :tenant_id AND r.created_at >= :start AND r.created_at < :end
  AND json_extract(e.value, '$.duration_ms') IS NOT NULL
""",
}


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _ranged(sql: str) -> Any:
    return text(sql).bindparams(bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))


def nearest_rank(values: list[float], pct: float = 95.0) -> float | None:
    """The nearest-rank percentile (the value at rank ceil(pct/100 * n) of the sorted values), as
    `percentile_disc` computes it and the views use it; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100.0 * len(ordered))) - 1]


async def workflow_outcomes(session: AsyncSession, tenant_id: int, start: dt.datetime,
                            end: dt.datetime) -> list[dict[str, Any]]:
    """Per workflow, the runs created in [start, end) that finished `succeeded`, `failed` or `dead` (cancelled and
    active runs left out, as the weekly view does): `runs`, `succeeded`, `failed`, `dead`, `within_sla`,
    `within_2_minutes`, and `p95_duration_ms` (nearest rank of `duration_ms`)."""
    dialect = _dialect(session)
    rows = (await session.execute(_ranged(f"""
SELECT r.workflow_key AS workflow,
       COUNT(*) AS runs,
       SUM(CASE WHEN r.status = 'succeeded' THEN 1 ELSE 0 END) AS succeeded,
       SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) AS failed,
       SUM(CASE WHEN r.status = 'dead' THEN 1 ELSE 0 END) AS dead,
       SUM(CASE WHEN {WITHIN_SLA[dialect]} THEN 1 ELSE 0 END) AS within_sla,
       SUM(CASE WHEN {WITHIN_2M[dialect]} THEN 1 ELSE 0 END) AS within_2_minutes
FROM crm_automation_runs r
WHERE r.tenant_id = :tenant_id AND r.created_at >= :start AND r.created_at < :end AND r.status IN {FINISHED}
GROUP BY r.workflow_key
ORDER BY r.workflow_key"""), {"tenant_id": tenant_id, "start": start, "end": end})).mappings().all()
    p95 = await p95_durations(session, tenant_id, start, end)
    return [{**{k: (int(v) if k != "workflow" else v) for k, v in row.items()},
             "p95_duration_ms": p95.get(row["workflow"])} for row in rows]


async def p95_durations(session: AsyncSession, tenant_id: int, start: dt.datetime,
                        end: dt.datetime) -> dict[str, float | None]:
    """Nearest-rank p95 of `duration_ms` per workflow over the finished runs created in [start, end).
    PostgreSQL computes it (`percentile_disc`); SQLite has no percentile function, so its durations are ranked
    here with the same rule."""
    where = (f"r.tenant_id = :tenant_id AND r.created_at >= :start AND r.created_at < :end "
             f"AND r.status IN {FINISHED} AND r.duration_ms IS NOT NULL")
    params = {"tenant_id": tenant_id, "start": start, "end": end}
    if _dialect(session) == "postgresql":
        rows = (await session.execute(_ranged(
            "SELECT r.workflow_key, percentile_disc(0.95) WITHIN GROUP (ORDER BY r.duration_ms) "
            f"FROM crm_automation_runs r WHERE {where} GROUP BY r.workflow_key"), params)).all()
        return {key: float(value) for key, value in rows}
    durations: dict[str, list[float]] = defaultdict(list)
    for key, value in (await session.execute(_ranged(
            f"SELECT r.workflow_key, r.duration_ms FROM crm_automation_runs r WHERE {where}"), params)).all():
        durations[key].append(float(value))
    return {key: nearest_rank(values) for key, values in durations.items()}


async def failure_causes(session: AsyncSession, tenant_id: int, start: dt.datetime, end: dt.datetime,
                         *, per_workflow: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Per workflow, the most frequent (error type, first 200 characters of the message) of the runs created in
    [start, end) that ended `failed` or `dead`, with counts, most frequent first."""
    rows = (await session.execute(_ranged("""
SELECT r.workflow_key AS workflow, r.last_error_type AS error_type,
       SUBSTR(r.last_error_message, 1, 200) AS message, COUNT(*) AS runs
FROM crm_automation_runs r
WHERE r.tenant_id = :tenant_id AND r.created_at >= :start AND r.created_at < :end AND r.status IN ('failed', 'dead')
GROUP BY r.workflow_key, r.last_error_type, SUBSTR(r.last_error_message, 1, 200)
ORDER BY r.workflow_key, COUNT(*) DESC, r.last_error_type"""),
        {"tenant_id": tenant_id, "start": start, "end": end})).mappings().all()
    causes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if len(causes[row["workflow"]]) < per_workflow:
            causes[row["workflow"]].append({"error_type": row["error_type"] or "(none recorded)",
                                            "message": row["message"] or "", "runs": int(row["runs"])})
    return dict(causes)


async def slowest_steps(session: AsyncSession, tenant_id: int, start: dt.datetime, end: dt.datetime,
                        *, limit: int = 10) -> list[dict[str, Any]]:
    """The steps (workflow, step name, type) with the highest average duration in the step logs of the runs
    created in [start, end): executions, average, p95 (nearest rank) and maximum in milliseconds."""
    rows = (await session.execute(_ranged(STEP_ENTRIES[_dialect(session)]),
                                  {"tenant_id": tenant_id, "start": start, "end": end})).all()
    grouped: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for workflow, step, step_type, duration in rows:
        grouped[(workflow, step or "?", step_type or "?")].append(float(duration))
    ranked = sorted(grouped.items(), key=lambda kv: (-sum(kv[1]) / len(kv[1]), kv[0]))[:limit]
    return [{"workflow": w, "step": s, "type": t, "executions": len(v), "avg_ms": round(sum(v) / len(v), 2),
             "p95_ms": nearest_rank(v), "max_ms": max(v)} for (w, s, t), v in ranked]


async def view_rows(session: AsyncSession, tenant_id: int, iso_week: str) -> list[dict[str, Any]]:
    """The rows of `crm_report_automation_sla_weekly` for one tenant and ISO week (what Metabase shows)."""
    rows = (await session.execute(text(
        "SELECT workflow, runs, within_sla, within_2_minutes, pct_within_sla, pct_within_2_minutes, meets_target "
        "FROM crm_report_automation_sla_weekly WHERE tenant_id = :tenant_id AND iso_week = :iso_week "
        "ORDER BY workflow"), {"tenant_id": tenant_id, "iso_week": iso_week})).mappings().all()
    return [dict(r) for r in rows]


# -- the archive ----------------------------------------------------------------------------------------------------


async def find_report(session: AsyncSession, tenant_id: int, kind: str, period: str) -> Report | None:
    return await session.scalar(select(Report).where(Report.tenant_id == tenant_id, Report.kind == kind,
                                                     Report.period == period))


async def get_report(session: AsyncSession, tenant_id: int, report_id: int) -> Report | None:
    return await session.scalar(select(Report).where(Report.tenant_id == tenant_id, Report.id == report_id))


async def list_reports(session: AsyncSession, tenant_id: int, *, kind: str | None, limit: int,
                       offset: int) -> tuple[list[Report], int]:
    """Newest period first (periods sort as text within a kind), then newest generation."""
    where = [Report.tenant_id == tenant_id] + ([Report.kind == kind] if kind else [])
    total = int(await session.scalar(select(func.count()).select_from(Report).where(*where)) or 0)
    rows = (await session.scalars(select(Report).where(*where)
                                  .order_by(Report.period.desc(), Report.generated_at.desc(), Report.id.desc())
                                  .limit(limit).offset(offset))).all()
    return list(rows), total


async def add(session: AsyncSession, obj: Any) -> Any:
    session.add(obj)
    await session.flush()
    return obj


# -- feedback -------------------------------------------------------------------------------------------------------


async def list_feedback(session: AsyncSession, tenant_id: int, *, start: dt.datetime | None = None,
                        end: dt.datetime | None = None, tag: str | None = None, workflow_key: str | None = None,
                        template_key: str | None = None, limit: int = 50,
                        offset: int = 0) -> tuple[list[FeedbackItem], int]:
    """Feedback items newest first; the tag filter is applied here because JSON containment differs between the
    two databases (feedback is a few items a month)."""
    where = [FeedbackItem.tenant_id == tenant_id]
    if start is not None:
        where.append(FeedbackItem.created_at >= start)
    if end is not None:
        where.append(FeedbackItem.created_at < end)
    if workflow_key:
        where.append(FeedbackItem.workflow_key == workflow_key)
    if template_key:
        where.append(FeedbackItem.template_key == template_key)
    items = list((await session.scalars(select(FeedbackItem).where(*where)
                                        .order_by(FeedbackItem.created_at.desc(), FeedbackItem.id.desc()))).all())
    if tag:
        items = [i for i in items if tag in (i.tags or [])]
    return items[offset:offset + limit], len(items)


async def tenants_with_reports(session: AsyncSession) -> list[Any]:
    """(id, slug, timezone, config, created_at) of every tenant: the scheduler decides per tenant from its
    `reports` section."""
    return list((await session.execute(select(Tenant.id, Tenant.slug, Tenant.timezone, Tenant.config,
                                              Tenant.created_at)
                                       .order_by(Tenant.id))).all())


async def workflow_exists(session: AsyncSession, tenant_id: int, key: str) -> bool:
    return await session.scalar(select(Workflow.id).where(Workflow.tenant_id == tenant_id,
                                                          Workflow.key == key).limit(1)) is not None


async def template_exists(session: AsyncSession, tenant_id: int, key: str) -> bool:
    return await session.scalar(select(Template.id).where(Template.tenant_id == tenant_id,
                                                          Template.key == key).limit(1)) is not None
