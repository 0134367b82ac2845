"""Scheduled jobs of the support desk; importing this module registers them with the engine's scheduler.

- `support.alert_incidents`, every minute: new `alert.firing`/`alert.resolved` events -> incidents.
- `support.sla_check`, every minute: 75% warnings to the Responsible team, breaches escalated to the Accountable.
- `support.dispatch`, every minute: vendor escalations and team notifications, retried until they land.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine.schedules import scheduled_job
from rentguy_crm.support import dispatch, incidents, sla_check


@scheduled_job("support.alert_incidents", "* * * * *")
async def alert_incidents(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    return await incidents.handle_new_alert_events(session, now)


@scheduled_job("support.sla_check", "* * * * *")
async def sla_checks(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    return await sla_check.check_all(session, now)


@scheduled_job("support.dispatch", "* * * * *")
async def deliver(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    return await dispatch.deliver_due(session, now)
