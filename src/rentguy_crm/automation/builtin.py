"""What every worker loads before any plugin: the channel steps, the tenant's channels and the suite's
scheduled jobs. `crm workers run`, the embedded workers of `crm run` and `automation/workers.py run` all
call `install()` through `worker.load_plugins()`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

_installed = False


async def revert_expired_rate_limit_switches(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    from rentguy_crm.ratelimit import service as ratelimits

    reverted = await ratelimits.revert_expired(session, now)
    return {"reverted": [p.tenant for p in reverted]} if reverted else {}


def install() -> None:
    global _installed
    if _installed:
        return
    from rentguy_crm.automation import engine, schedules
    from rentguy_crm.integrations.graph import calendar_jobs
    from rentguy_crm.integrations.registry import build_channels
    from rentguy_crm.observability import jobs  # noqa: F401  (the failure-rate watchdog, every minute)
    from rentguy_crm.reporting import jobs as report_jobs  # noqa: F401  (weekly SLA and monthly retro mails)
    from rentguy_crm.support import jobs as support_jobs  # noqa: F401  (alerts -> incidents, SLA check, dispatch)
    from rentguy_crm.templates import steps  # noqa: F401  (registers send_email, send_whatsapp, notify, http_webhook)

    engine.set_default_channels_factory(build_channels)
    # A temporary profile switch ends on time by itself; this records the revert in the audit log.
    schedules.register_job("ratelimit.revert_expired", "* * * * *", revert_expired_rate_limit_switches)
    # Gigs in the tenants' shared Outlook calendars (docs/calendar.md); ops/cron/m365_sync.cron does the same.
    schedules.register_job(calendar_jobs.JOB_NAME, calendar_jobs.JOB_CRON, calendar_jobs.sync_all_tenants)
    from rentguy_crm.privacy import jobs as privacy_jobs
    from rentguy_crm.privacy.retention import JOB_CRON, JOB_NAME

    # Leads without a deal are anonymised after the tenant's retention period (docs/privacy.md).
    schedules.register_job(JOB_NAME, JOB_CRON, privacy_jobs.retention_job)
    _installed = True
