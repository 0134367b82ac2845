"""Every Prometheus metric the suite exports, in one place so dashboards and alert rules have one source.

Names follow Prometheus conventions; labels are bounded (tenant slug, workflow key, outcome, status):
never a lead, run or request id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LEAD_OUTCOMES = ("created", "duplicate", "spam", "rejected", "rate_limited", "error")

lead_capture_requests_total = Counter(
    "crm_lead_capture_requests_total",
    "Lead capture requests by tenant, route and outcome.",
    ["tenant", "route", "outcome"],
)
lead_capture_duration_seconds = Histogram(
    "crm_lead_capture_duration_seconds",
    "Time to handle a lead capture request.",
    ["tenant", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
automation_runs_finished_total = Counter(
    "crm_automation_runs_finished_total",
    "Automation runs that reached a final or failed state, by status (succeeded, failed, dead, cancelled).",
    ["tenant", "workflow", "status"],
)
automation_run_duration_seconds = Histogram(
    "crm_automation_run_duration_seconds",
    "From run creation to completion.",
    ["tenant", "workflow"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
automation_run_retries_total = Counter(
    "crm_automation_run_retries_total",
    "Run attempts that failed and were scheduled again.",
    ["tenant", "workflow"],
)
automation_sla_breaches_total = Counter(
    "crm_automation_sla_breaches_total",
    "Runs that did not complete within their workflow's SLA.",
    ["tenant", "workflow"],
)
automation_queue_depth = Gauge(
    "crm_automation_queue_depth",
    "Runs due now and not yet claimed.",
    ["tenant", "workflow"],
    multiprocess_mode="max",
)
automation_queue_lag_seconds = Gauge(
    "crm_automation_queue_lag_seconds",
    "Age of the oldest due, unclaimed run.",
    ["tenant", "workflow"],
    multiprocess_mode="max",
)
automation_workflow_paused = Gauge(
    "crm_automation_workflow_paused",
    "1 while a workflow is paused.",
    ["tenant", "workflow"],
    multiprocess_mode="max",
)
worker_heartbeat_timestamp_seconds = Gauge(
    "crm_worker_heartbeat_timestamp_seconds",
    "Unix time of each worker's last heartbeat.",
    ["worker"],
    multiprocess_mode="max",
)
rate_limit_profile = Gauge(
    "crm_rate_limit_profile",
    "1 for the rate-limit profile in force per tenant (strict, standard, relaxed).",
    ["tenant", "profile"],
    multiprocess_mode="max",
)
automation_workflow_sla_seconds = Gauge(
    "crm_automation_workflow_sla_seconds",
    "The SLA of each current workflow (queue-lag alerts compare against it).",
    ["tenant", "workflow"],
    multiprocess_mode="max",
)
alertmanager_alerts_received_total = Counter(
    "crm_alertmanager_alerts_received_total",
    "Alerts recorded from Alertmanager's webhook, by tenant and status (firing, resolved).",
    ["tenant", "status"],
)
watchdog_notifications_total = Counter(
    "crm_watchdog_notifications_total",
    "Failure-rate watchdog posts to a tenant's ops channel, by state (firing, resolved) and result (sent, failed).",
    ["tenant", "workflow", "state", "result"],
)

FINISHED_STATUSES = ("succeeded", "failed", "dead", "cancelled")


def init_workflow_series(tenant: str, workflow: str) -> None:
    """Create a workflow's series at zero, so the first failure is an increase Prometheus can see."""
    for status in FINISHED_STATUSES:
        automation_runs_finished_total.labels(tenant=tenant, workflow=workflow, status=status)
    automation_run_retries_total.labels(tenant=tenant, workflow=workflow)
    automation_sla_breaches_total.labels(tenant=tenant, workflow=workflow)
