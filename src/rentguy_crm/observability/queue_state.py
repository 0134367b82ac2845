"""Gauges read from the database at scrape time: queue depth and lag, paused workflows, workflow SLA, and the
rate-limit profile in force per tenant.

They describe shared state, so computing them in the process that is scraped is right however many API and
worker processes run (each scrape target reports the same numbers; rules aggregate with `max by`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.runs.models import AutomationRun, WorkflowPause
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.kit.durations import parse_duration
from rentguy_crm.ratelimit.models import RateLimitSwitch
from rentguy_crm.ratelimit.profiles import PROFILES
from rentguy_crm.ratelimit.service import effective
from rentguy_crm.tenants.models import Tenant

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


async def database_families(session: AsyncSession, now: dt.datetime) -> list[Metric]:
    labels = ["tenant", "workflow"]
    depth = GaugeMetricFamily("crm_automation_queue_depth", "Runs due now and not yet claimed.", labels=labels)
    lag = GaugeMetricFamily("crm_automation_queue_lag_seconds", "Age of the oldest due, unclaimed run.",
                            labels=labels)
    paused = GaugeMetricFamily("crm_automation_workflow_paused", "1 while a workflow is paused.", labels=labels)
    sla = GaugeMetricFamily("crm_automation_workflow_sla_seconds",
                            "The SLA of each current workflow (queue-lag alerts compare against it).", labels=labels)

    due: dict[tuple[str, str], tuple[int, float]] = {}
    rows = await session.execute(
        select(Tenant.slug, AutomationRun.workflow_key, func.count(), func.min(AutomationRun.run_after))
        .join(Tenant, Tenant.id == AutomationRun.tenant_id)
        .where(AutomationRun.status.in_(DUE_STATUSES), AutomationRun.run_after <= now)
        .group_by(Tenant.slug, AutomationRun.workflow_key)
    )
    for slug, key, count, oldest in rows:
        oldest_at = _aware(oldest)
        due[(slug, key)] = (int(count), max(0.0, (now - oldest_at).total_seconds()) if oldest_at else 0.0)

    workflows = await session.execute(
        select(Tenant.slug, Workflow.key, Workflow.enabled, Workflow.definition)
        .join(Tenant, Tenant.id == Workflow.tenant_id)
        .where(Workflow.is_current.is_(True))
    )
    # Paused: `crm workflows pause` (crm_workflow_pauses, which the claim query honours), or a current version
    # that is disabled. Either way its runs wait and nothing is claimed.
    pauses = {(slug, key) for slug, key in await session.execute(
        select(Tenant.slug, WorkflowPause.workflow_key).join(Tenant, Tenant.id == WorkflowPause.tenant_id))}
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
    return [depth, lag, paused, sla, await rate_limit_family(session, now)]


async def rate_limit_family(session: AsyncSession, now: dt.datetime) -> Metric:
    """1 for the profile in force per tenant, 0 for the others: the stored switch (and its expiry) or the
    tenant's default, computed like the request path does (`ratelimit.service.effective`)."""
    family = GaugeMetricFamily("crm_rate_limit_profile",
                               "1 for the rate-limit profile in force per tenant (strict, standard, relaxed).",
                               labels=["tenant", "profile"])
    rows = await session.execute(select(Tenant, RateLimitSwitch)
                                 .outerjoin(RateLimitSwitch, RateLimitSwitch.tenant_id == Tenant.id)
                                 .order_by(Tenant.slug))
    for tenant, switch in rows:
        in_force = effective(tenant, switch, now).profile
        for name in PROFILES:
            family.add_metric([tenant.slug, name], 1.0 if name == in_force else 0.0)
    return family


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    # func.min() loses the column type on SQLite, so the value may come back as a naive string.
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
