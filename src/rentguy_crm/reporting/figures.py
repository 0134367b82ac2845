"""The figures of the two reports, as plain JSON (what is archived, charted, rendered and served by the API).

Weekly "Automation SLA" (playbook §4): per workflow, the runs of the ISO week that finished (`succeeded`,
`failed`, `dead`; cancelled and active runs are left out, as in `crm_report_automation_sla_weekly`), the share
within the workflow's SLA and within 2 minutes against the 95% target (the tenant's acceptance test), the p95
duration, the top failure causes and the change against the week before. Percentages are rounded to 2 decimals
half away from zero, like SQL's ROUND in the views.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.reporting import repository
from rentguy_crm.reporting.incidents import incident_figures
from rentguy_crm.reporting.periods import Period, previous_week, weeks_touching

TARGET_PCT = 95.0
TWO_MINUTES_SECONDS = 120


def pct(part: int, whole: int) -> float | None:
    if not whole:
        return None
    return float((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000.0, 3)


def _delta(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 2)


def _workflow_row(row: dict[str, Any]) -> dict[str, Any]:
    runs = row["runs"]
    within_2m = pct(row["within_2_minutes"], runs)
    return {
        "workflow": row["workflow"], "runs": runs, "succeeded": row["succeeded"], "failed": row["failed"],
        "dead": row["dead"], "within_sla": row["within_sla"], "within_2_minutes": row["within_2_minutes"],
        "pct_within_sla": pct(row["within_sla"], runs), "pct_within_2_minutes": within_2m,
        "meets_target": within_2m is not None and 100 * row["within_2_minutes"] >= TARGET_PCT * runs,
        "failure_rate_pct": pct(row["failed"] + row["dead"], runs),
        "p95_duration_seconds": _seconds(row["p95_duration_ms"]),
    }


EMPTY = {"runs": 0, "succeeded": 0, "failed": 0, "dead": 0, "within_sla": 0, "within_2_minutes": 0,
         "p95_duration_ms": None}


async def outcomes_by_workflow(session: AsyncSession, tenant_id: int, period: Period) -> dict[str, dict[str, Any]]:
    rows = await repository.workflow_outcomes(session, tenant_id, period.start, period.end)
    return {r["workflow"]: _workflow_row(r) for r in rows}


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summed = {k: sum(r[k] for r in rows) for k in ("runs", "succeeded", "failed", "dead", "within_sla",
                                                   "within_2_minutes")}
    row = _workflow_row({"workflow": "(all)", **summed, "p95_duration_ms": None})
    row.pop("p95_duration_seconds")
    return row


async def automation_sla(session: AsyncSession, tenant_id: int, tenant_slug: str, period: Period) -> dict[str, Any]:
    """The weekly report's figures for one past ISO week."""
    before = previous_week(period)
    current = await outcomes_by_workflow(session, tenant_id, period)
    earlier = await outcomes_by_workflow(session, tenant_id, before)
    causes = await repository.failure_causes(session, tenant_id, period.start, period.end)
    workflows = []
    for key in sorted(set(current) | set(earlier)):
        row = current.get(key) or _workflow_row({"workflow": key, **EMPTY})
        prior = earlier.get(key)
        row["top_failures"] = causes.get(key, [])
        row["previous"] = None if prior is None else {
            k: prior[k] for k in ("runs", "pct_within_sla", "pct_within_2_minutes", "failure_rate_pct",
                                  "p95_duration_seconds")}
        row["change"] = {"runs": row["runs"] - (prior["runs"] if prior else 0)} | {
            key: _delta(row[key], prior[key] if prior else None)
            for key in ("pct_within_sla", "pct_within_2_minutes", "failure_rate_pct")}
        workflows.append(row)
    return {
        "kind": "automation_sla", "tenant": tenant_slug, "period": period.label,
        "start": period.start.isoformat(), "end": period.end.isoformat(), "previous_period": before.label,
        "target_pct": TARGET_PCT, "two_minutes_seconds": TWO_MINUTES_SECONDS,
        "workflows": workflows,
        "totals": _totals([w for w in workflows if w["runs"]]),
        "incidents": await incident_figures(session, tenant_id, period.start, period.end),
    }


async def retro(session: AsyncSession, tenant_id: int, tenant_slug: str, period: Period) -> dict[str, Any]:
    """The monthly retro's figures: per workflow and ISO week (clipped to the month) the volume, failure rate and
    SLA shares; the month's top errors and slowest steps; incidents; the month's UAT feedback items."""
    weeks = weeks_touching(period)
    trends: dict[str, list[dict[str, Any]]] = {}
    for week in weeks:
        clipped = Period(week.label, max(week.start, period.start), min(week.end, period.end))
        for key, row in (await outcomes_by_workflow(session, tenant_id, clipped)).items():
            trends.setdefault(key, [])
            trends[key].append({"week": week.label, **{k: row[k] for k in (
                "runs", "failed", "dead", "failure_rate_pct", "pct_within_sla", "pct_within_2_minutes",
                "p95_duration_seconds")}})
    month = await outcomes_by_workflow(session, tenant_id, period)
    causes = await repository.failure_causes(session, tenant_id, period.start, period.end, per_workflow=10)
    top_errors = sorted(({"workflow": w, **c} for w, cs in causes.items() for c in cs),
                        key=lambda c: (-c["runs"], c["workflow"], c["error_type"]))[:10]
    feedback, _total = await repository.list_feedback(session, tenant_id, start=period.start, end=period.end,
                                                      limit=500)
    return {
        "kind": "retro", "tenant": tenant_slug, "period": period.label,
        "start": period.start.isoformat(), "end": period.end.isoformat(),
        "weeks": [w.label for w in weeks], "target_pct": TARGET_PCT,
        "workflows": [month[k] for k in sorted(month)],
        "totals": _totals(list(month.values())),
        "trends": [{"workflow": k, "weeks": trends[k]} for k in sorted(trends)],
        "top_errors": top_errors,
        "slowest_steps": await repository.slowest_steps(session, tenant_id, period.start, period.end),
        "incidents": await incident_figures(session, tenant_id, period.start, period.end),
        "feedback": [feedback_json(item) for item in reversed(feedback)],
    }


def feedback_json(item: Any) -> dict[str, Any]:
    return {"id": item.id, "created_at": item.created_at.isoformat(), "author": item.author, "text": item.text,
            "tags": list(item.tags or []), "workflow_key": item.workflow_key, "template_key": item.template_key,
            "screen": item.screen}
