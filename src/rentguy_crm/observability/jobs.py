"""Scheduled jobs of observability, declared here and run by the automation scheduler, which registers them
(`automation.engine.schedules`); this module does not import automation.

`observability.failure_rate_watchdog`, every minute: the failure-rate rule for tenants without Prometheus
(`watchdog.check_failure_rates`), posting to the tenant's ops channel (`slack_notify.ops_notifier_for`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.observability.slack_notify import ops_notifier_for
from rentguy_crm.observability.watchdog import check_failure_rates

WATCHDOG_JOB = "observability.failure_rate_watchdog"
WATCHDOG_CRON = "* * * * *"


async def failure_rate_watchdog(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """One tick: evaluate the rule, post state changes; the result lands in `crm_schedule_runs.result`."""
    transitions = await check_failure_rates(session, now, ops_notifier_for)
    return {"changes": [{"tenant": t.tenant, "workflow": t.workflow, "state": t.state, "notified": t.notified}
                        for t in transitions]}
