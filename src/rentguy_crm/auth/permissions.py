"""Roles and what each may do. This table is the single source; the README copies it."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    CRM_READ = "crm:read"              # contacts, leads, deals, pipelines, activities
    CRM_WRITE = "crm:write"            # create and change contacts, leads, deals
    ACTIVITIES_WRITE = "activities:write"  # notes and tasks
    LEADS_SUBMIT = "leads:submit"      # server-to-server lead capture
    AUTOMATION_READ = "automation:read"    # runs, workflows, worker status
    AUTOMATION_OPERATE = "automation:operate"  # pause/resume workflows, retry/cancel runs
    AUTOMATION_MANAGE = "automation:manage"    # sync workflow definitions
    TEMPLATES_READ = "templates:read"
    TEMPLATES_WRITE = "templates:write"  # edit drafts, publish, archive, clone
    RATELIMIT_MANAGE = "ratelimit:manage"
    REPORTS_READ = "reports:read"        # the report archive and the UAT feedback list
    FEEDBACK_WRITE = "feedback:write"    # record UAT feedback (any staff role)
    AUDIT_READ = "audit:read"
    ALERTS_INGEST = "alerts:ingest"    # Alertmanager's webhook records alerts as events
    DATA_CORRECT = "data:correct"      # merge contacts, import contacts and leads (docs/privacy.md)
    PRIVACY_MANAGE = "privacy:manage"  # GDPR access exports, erasure, retention runs
    TICKETS_READ = "tickets:read"      # support tickets and incidents, their timeline and SLA
    TICKETS_WRITE = "tickets:write"    # open, reply, note, assign, link, change status, tick runbook steps
    ADMIN = "admin"                    # API keys and tenant settings


ROLES: dict[str, frozenset[Permission]] = {
    "sales": frozenset({
        Permission.CRM_READ, Permission.CRM_WRITE, Permission.ACTIVITIES_WRITE, Permission.LEADS_SUBMIT,
        Permission.AUTOMATION_READ, Permission.TEMPLATES_READ, Permission.FEEDBACK_WRITE,
    }),
    "operations": frozenset({
        Permission.CRM_READ, Permission.CRM_WRITE, Permission.ACTIVITIES_WRITE, Permission.LEADS_SUBMIT,
        Permission.AUTOMATION_READ, Permission.AUTOMATION_OPERATE, Permission.TEMPLATES_READ,
        Permission.TEMPLATES_WRITE, Permission.RATELIMIT_MANAGE, Permission.REPORTS_READ,
        Permission.AUDIT_READ, Permission.ALERTS_INGEST, Permission.DATA_CORRECT,
        Permission.TICKETS_READ, Permission.TICKETS_WRITE, Permission.FEEDBACK_WRITE,
    }),
    "engineering": frozenset({
        Permission.CRM_READ, Permission.AUTOMATION_READ, Permission.AUTOMATION_OPERATE,
        Permission.AUTOMATION_MANAGE, Permission.TEMPLATES_READ, Permission.RATELIMIT_MANAGE,
        Permission.REPORTS_READ, Permission.AUDIT_READ, Permission.ALERTS_INGEST, Permission.TICKETS_READ,
        Permission.TICKETS_WRITE, Permission.FEEDBACK_WRITE,
    }),
    "support": frozenset({
        Permission.CRM_READ, Permission.ACTIVITIES_WRITE, Permission.AUTOMATION_READ,
        Permission.TEMPLATES_READ, Permission.REPORTS_READ, Permission.TICKETS_READ, Permission.TICKETS_WRITE,
        Permission.FEEDBACK_WRITE,
    }),
    "admin": frozenset(Permission),
}


def permissions_for(roles: list[str] | tuple[str, ...]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLES.get(role, frozenset())
    return frozenset(granted)
