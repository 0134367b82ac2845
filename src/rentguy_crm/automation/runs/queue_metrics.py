"""The run queue's gauges, read from the database at scrape time and reported by /metrics (registered with
`observability.queue_state.add_family_source` at start-up): queue depth and lag, paused workflows, workflow SLA.

They describe shared state, so computing them in the process that is scraped is right however many API and
worker processes run (each scrape target reports the same numbers; rules aggregate with `max by`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.runs import repository
from rentguy_crm.automation.workflows import repository as workflows_repository
from rentguy_crm.kit.durations import parse_duration

DUE_STATUSES = ("queued", "waiting")
DEFAULT_SLA = dt.timedelta(minutes=15)
_TIMEDELTA = TypeAdapter(dt.timedelta)


def workflow_sla(definition: dict[str, Any]) -> dt.timedelta:
    """The `sla` of a stored definition: '15m', seconds, or ISO 8601 ('PT15M') as pydantic writes it."""
    raw = definition.get("sla")
    if raw is None:
        return DEFAULT_SLA
    try:
        return parse_duration(raw)
    except ValueError:
        try:
            return _TIMEDELTA.validate_python(raw)
        except ValueError:
            return DEFAULT_SLA


async def queue_families(session: AsyncSession, now: dt.datetime) -> list[Metric]:
    """Every tenant's queue gauges (the scrape is the operators', across tenants)."""
    labels = ["tenant", "workflow"]
    depth = GaugeMetricFamily("crm_automation_queue_depth", "Runs due now and not yet claimed.", labels=labels)
    lag = GaugeMetricFamily("crm_automation_queue_lag_seconds", "Age of the oldest due, unclaimed run.",
                            labels=labels)
    paused = GaugeMetricFamily("crm_automation_workflow_paused", "1 while a workflow is paused.", labels=labels)
    sla = GaugeMetricFamily("crm_automation_workflow_sla_seconds",
                            "The SLA of each current workflow (queue-lag alerts compare against it).", labels=labels)

    due: dict[tuple[str, str], tuple[int, float]] = {}
    for slug, key, count, oldest in await repository.due_counts(session, DUE_STATUSES, now):
        oldest_at = _aware(oldest)
        due[(slug, key)] = (int(count), max(0.0, (now - oldest_at).total_seconds()) if oldest_at else 0.0)

    workflows = await workflows_repository.current_with_slugs(session)
    # Paused: `crm workflows pause` (crm_workflow_pauses, which the claim query honours), or a current version
    # that is disabled. Either way its runs wait and nothing is claimed.
    pauses = await repository.paused_keys(session)
    seen: set[tuple[str, str]] = set()
    for slug, key, enabled, definition in workflows:
        if (slug, key) in seen:
            continue
        seen.add((slug, key))
        paused.add_metric([slug, key], 1.0 if (slug, key) in pauses or not enabled else 0.0)
        sla.add_metric([slug, key], workflow_sla(definition or {}).total_seconds())
    for slug, key in sorted(pauses - seen):
        paused.add_metric([slug, key], 1.0)
    # Workflows without queued runs report 0, so "no lag" is a value, not a missing series.
    for slug, key in sorted(seen | set(due)):
        count, age = due.get((slug, key), (0, 0.0))
        depth.add_metric([slug, key], float(count))
        lag.add_metric([slug, key], age)
    return [depth, lag, paused, sla]


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    # func.min() loses the column type on SQLite, so the value may come back as a naive string.
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
