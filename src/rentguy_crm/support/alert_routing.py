"""Which incident an Alertmanager alert opens: activity and runbook from the alert name, priority from severity.

Severity (label `severity`): critical -> P1, warning -> P2, anything else or none -> P3.
Alert names are the rules in `ops/prometheus/rules/`; the first matching row wins; an unknown alert is a
dashboard/metrics incident without a runbook. Runbook keys are the playbook's section numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITY_PRIORITY = {"critical": "P1", "warning": "P2"}


@dataclass(frozen=True)
class AlertRoute:
    match: str  # a case-insensitive part of the alert name
    activity: str
    runbook: str | None


# (part of alertname, activity, runbook key)
ROUTES: tuple[AlertRoute, ...] = (
    AlertRoute("leadcapture", "lead_capture_issue", "2.1"),        # CrmLeadCaptureApiDown, CrmLeadCaptureErrors
    AlertRoute("intake", "lead_capture_issue", "2.1"),
    AlertRoute("sso", "security_compliance_question", "2.3"),
    AlertRoute("migration", "automation_failure", "5"),             # a failed deploy or migration: roll back
    AlertRoute("rollback", "automation_failure", "5"),
    AlertRoute("automation", "automation_failure", "2.2"),          # CrmAutomationFailureRateHigh, ...QueueLag...
    AlertRoute("worker", "automation_failure", "2.2"),              # CrmWorkerHeartbeatStale, CrmWorkersAbsent
    AlertRoute("failurerate", "automation_failure", "2.2"),         # the watchdog's own alert
)
DEFAULT = AlertRoute("", "dashboard_metrics_incident", None)


def route_for(alertname: str | None, labels: dict[str, Any]) -> AlertRoute:
    """A `workflow` or `flow` label marks an automation alert even when its name says nothing."""
    name = (alertname or "").lower()
    for route in ROUTES:
        if route.match in name:
            return route
    if labels.get("workflow") or labels.get("flow"):
        return AlertRoute("", "automation_failure", "2.2")
    return DEFAULT


def priority_for(labels: dict[str, Any]) -> str:
    return SEVERITY_PRIORITY.get(str(labels.get("severity", "")).lower(), "P3")
