"""The periodic work of the domains above automation, registered with the scheduler at start-up. Automation's
engine runs scheduled jobs but knows no domain; this top-layer module (beside `app` and `cli`) names them, so
`crm serve`, `crm run`, `crm workers run` and the entry points at the repository root all carry the same set."""

from __future__ import annotations

from rentguy_crm.automation.engine import schedules
from rentguy_crm.crm.calendar_sync import jobs as calendar_jobs
from rentguy_crm.privacy import jobs as privacy_jobs
from rentguy_crm.privacy.retention import JOB_CRON as RETENTION_CRON
from rentguy_crm.privacy.retention import JOB_NAME as RETENTION_JOB
from rentguy_crm.reporting import jobs as report_jobs  # noqa: F401  (weekly SLA and monthly retro mails)
from rentguy_crm.support import jobs as support_jobs  # noqa: F401  (alerts -> incidents, SLA check, vendor calls)

_installed = False


def install() -> None:
    """Register every domain job once per process (support and reports register when imported above)."""
    global _installed
    if _installed:
        return
    # Gigs in the tenants' shared Outlook calendars (docs/calendar.md); ops/cron/m365_sync.cron does the same.
    schedules.register_job(calendar_jobs.JOB_NAME, calendar_jobs.JOB_CRON, calendar_jobs.sync_all_tenants)
    # Leads without a deal are anonymised after the tenant's retention period (docs/privacy.md).
    schedules.register_job(RETENTION_JOB, RETENTION_CRON, privacy_jobs.retention_job)
    _installed = True
