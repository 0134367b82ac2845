"""The failure-rate rule for tenants without Prometheus: the suite checks `crm_automation_runs` itself.

Same rule as the `CrmAutomationFailureRateHigh` alert: more than 2% of a workflow's runs that finished in the
last 10 minutes failed or died, with at least 20 finished runs. The firing state lives in
`crm_watchdog_alerts`, so the tenant's ops channel gets one post when the rule starts firing and one when it
resolves, however often the check runs. Schedule: every minute (`* * * * *`).

One message per incident: where Prometheus and Alertmanager watch a tenant, Alertmanager posts the same rule to
the same channel, so the watchdog stands down — when the tenant config says so (`monitoring.alerting:
alertmanager`), or (`auto`) while Alertmanager's webhooks reach the suite (the `CrmAlertingHeartbeat` alert
arrives every 5 minutes). When they stop, the watchdog takes over again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.integrations.base import ChatNotifier, DeliveryError
from rentguy_crm.kit.markup import slack_mrkdwn
from rentguy_crm.observability import metrics, repository
from rentguy_crm.observability.models import WatchdogAlert
from rentguy_crm.observability.slack_notify import monitoring_of
from rentguy_crm.tenants import repository as tenants_repository
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, TenantScope

ALERT = "failure_rate"
WINDOW = dt.timedelta(minutes=10)
THRESHOLD = 0.02
MIN_FINISHED_RUNS = 20
FAILED_STATUSES = ("failed", "dead")
FINISHED_STATUSES = ("succeeded", "failed", "dead", "cancelled")
RUNBOOK_URL = "https://git.rentguy.nl/crm/blob/main/docs/playbook.md#22-automation-failure-rate--2"

# The marker row (in the same table) of the last Alertmanager webhook per tenant, and how long it counts.
ALERTMANAGER_SEEN = "alertmanager_seen"
ALERTMANAGER_FRESH = dt.timedelta(minutes=15)
HEARTBEAT_ALERT = "CrmAlertingHeartbeat"

NotifierFactory = Callable[[Tenant], Awaitable[ChatNotifier | None]]
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Transition:
    tenant: str
    workflow: str
    state: str  # "firing" or "resolved"
    failure_rate: float
    finished_runs: int
    failed_runs: int
    notified: bool


def is_firing(finished: int, failed: int) -> bool:
    return finished >= MIN_FINISHED_RUNS and failed > THRESHOLD * finished


def message(tenant: Tenant, alert: WatchdogAlert, state: str) -> str:
    rate = f"{alert.failure_rate * 100:.1f}%"
    name = slack_mrkdwn(tenant.name)  # "Jansen & Zn" is text in the ops channel, not markup
    if state == "firing":
        return (f":rotating_light: FIRING – workflow `{alert.workflow_key}` of {name}: {rate} of "
                f"{alert.finished_runs} runs finished in the last 10 minutes failed ({alert.failed_runs}); "
                f"threshold 2%. Runbook 2.2: {RUNBOOK_URL}")
    return (f":white_check_mark: RESOLVED – workflow `{alert.workflow_key}` of {name}: failure rate back to "
            f"{rate} ({alert.failed_runs} of {alert.finished_runs} runs in the last 10 minutes).")


FinishedRunCounts = Callable[[AsyncSession, tuple[str, ...], tuple[str, ...], dt.datetime, dt.datetime],
                             Awaitable[dict[tuple[int, str], tuple[int, int]]]]
"""(session, finished statuses, failed statuses, since, until) -> {(tenant id, workflow): (finished, failed)} for
the runs of every tenant that finished in (since, until]. Automation registers it at start-up."""

_finished_run_counts: list[FinishedRunCounts] = []


def count_finished_runs_with(source: FinishedRunCounts) -> None:
    """Where the watchdog reads finished runs from (the run log belongs to automation, a layer above)."""
    _finished_run_counts[:] = [source]


async def _window_counts(session: AsyncSession, now: dt.datetime) -> dict[tuple[int, str], tuple[int, int]]:
    if not _finished_run_counts:
        raise RuntimeError("the watchdog has no source of finished runs: call "
                           "rentguy_crm.automation.engine.hooks.install() at start-up")
    return await _finished_run_counts[0](session, FINISHED_STATUSES, FAILED_STATUSES, now - WINDOW, now)


async def note_alertmanager_webhook(session: AsyncSession, scope: TenantScope, now: dt.datetime) -> None:
    """Remember that Alertmanager reached the suite for this tenant (one row per tenant, overwritten)."""
    await repository.touch_marker(session, scope, ALERTMANAGER_SEEN, now)


async def alertmanager_seen(session: AsyncSession) -> dict[int, dt.datetime]:
    """When Alertmanager last reached the suite, per tenant id."""
    return await repository.marker_times(session, AllTenants(), ALERTMANAGER_SEEN)


def alerting_path(tenant: Tenant, seen_at: dt.datetime | None, now: dt.datetime) -> str:
    """Who posts the tenant's failure-rate alerts now: "watchdog", "alertmanager", or "off"."""
    monitoring = monitoring_of(tenant)
    if not monitoring.watchdog and monitoring.alerting != "alertmanager":
        return "off"
    if monitoring.alerting == "auto":
        return "alertmanager" if seen_at is not None and now - seen_at <= ALERTMANAGER_FRESH else "watchdog"
    return monitoring.alerting


async def firing(session: AsyncSession) -> list[tuple[int, str, float]]:
    """(tenant id, workflow, failure rate) of every failure-rate alert the watchdog holds firing."""
    return await repository.firing(session, AllTenants(), ALERT)


async def check_failure_rates(session: AsyncSession, now: dt.datetime,
                              notifier_factory: NotifierFactory) -> list[Transition]:
    """Evaluate the rule for every tenant the watchdog watches; post state changes to the ops channel.

    A post that fails stays owed and is tried again at the next check; nothing is posted twice for one change.
    A tenant Alertmanager watches is left to it: its watchdog state is cleared and nothing is owed.
    """
    counts = await _window_counts(session, now)
    seen = await alertmanager_seen(session)
    every_tenant = await tenants_repository.list_in_order_made(session, AllTenants())
    paths = {t.id: (t, alerting_path(t, seen.get(t.id), now)) for t in every_tenant}
    tenants = {tenant_id: t for tenant_id, (t, path) in paths.items() if path == "watchdog"}
    states = {}
    for a in await repository.alerts(session, AllTenants(), ALERT):
        if a.tenant_id in tenants:
            states[(a.tenant_id, a.workflow_key)] = a
        elif a.firing or a.pending_notification:
            log.info("watchdog_standing_down", tenant=paths[a.tenant_id][0].slug, workflow=a.workflow_key)
            a.firing, a.pending_notification = False, None

    for key in sorted(set(counts) | set(states)):
        tenant_id, workflow = key
        if tenant_id not in tenants:
            continue
        finished, failed = counts.get(key, (0, 0))
        firing = is_firing(finished, failed)
        alert = states.get(key)
        if alert is None:
            if not firing:
                continue  # nothing to remember about a healthy workflow
            alert = WatchdogAlert(tenant_id=tenant_id, alert=ALERT, workflow_key=workflow, firing=False)
            session.add(alert)
            states[key] = alert
        alert.last_checked_at = now
        alert.finished_runs, alert.failed_runs = finished, failed
        alert.failure_rate = failed / finished if finished else 0.0
        if firing and not alert.firing:
            alert.firing, alert.started_at, alert.resolved_at = True, now, None
            # A resolution that was never delivered is moot once the rule fires again.
            alert.pending_notification = None if alert.pending_notification == "resolved" else "firing"
        elif not firing and alert.firing:
            alert.firing, alert.resolved_at = False, now
            # Firing and resolved between two deliveries: neither post is owed any more.
            alert.pending_notification = None if alert.pending_notification == "firing" else "resolved"
    await session.flush()

    transitions = []
    for alert in states.values():
        if alert.pending_notification is None:
            continue
        tenant = tenants[alert.tenant_id]
        state = alert.pending_notification
        notified = await _notify(tenant, alert, state, notifier_factory)
        if notified:
            alert.pending_notification = None
        transitions.append(Transition(tenant.slug, alert.workflow_key, state, alert.failure_rate,
                                      alert.finished_runs, alert.failed_runs, notified))
    await session.flush()
    return transitions


async def _notify(tenant: Tenant, alert: WatchdogAlert, state: str, notifier_factory: NotifierFactory) -> bool:
    notifier = await notifier_factory(tenant)
    labels = {"tenant": tenant.slug, "workflow": alert.workflow_key, "state": state}
    if notifier is None:
        log.warning("watchdog_no_ops_channel", tenant=tenant.slug, workflow=alert.workflow_key, state=state)
        metrics.watchdog_notifications_total.labels(**labels, result="failed").inc()
        return False
    since = alert.started_at.isoformat() if alert.started_at else "unknown"
    try:
        await notifier.post(message(tenant, alert, state), target=monitoring_of(tenant).ops_channel,
                            idempotency_key=f"watchdog:{tenant.slug}:{alert.workflow_key}:{since}:{state}")
    except DeliveryError as exc:
        log.warning("watchdog_post_failed", tenant=tenant.slug, workflow=alert.workflow_key, state=state,
                    error=str(exc))
        metrics.watchdog_notifications_total.labels(**labels, result="failed").inc()
        return False
    log.info("watchdog_posted", tenant=tenant.slug, workflow=alert.workflow_key, state=state,
             failure_rate=round(alert.failure_rate, 4))
    metrics.watchdog_notifications_total.labels(**labels, result="sent").inc()
    return True
