"""A ticket's SLA clock: due times in the tenant's working time, paused while `pending`.

Due = start + target + the working time spent pending, where start is the creation instant (a ticket created
outside working hours starts at the next working minute: `add_working_time` counts from there). Targets per
priority come from `support.sla` in the tenant config (P3 first response 8 working hours: playbook section 3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rentguy_crm.support.working_time import (
    WorkingCalendar,
    add_working_time,
    next_working_instant,
    working_time_between,
)
from rentguy_crm.tenants.config import TenantConfig
from rentguy_crm.tenants.sections.support import SupportSettings


def support_settings(config: dict[str, object]) -> SupportSettings:
    return TenantConfig.model_validate(config).support if config else SupportSettings()


def calendar_for(settings: SupportSettings, tenant_timezone: str) -> WorkingCalendar:
    hours = settings.working_hours
    return WorkingCalendar.from_config(hours.timezone or tenant_timezone, hours.days,
                                       country=hours.holidays_country, subdivision=hours.holidays_subdivision,
                                       closed_days=hours.closed_days)


@dataclass(frozen=True)
class Clock:
    """The SLA view of one ticket at one instant."""

    calendar: WorkingCalendar
    first_response: dt.timedelta
    resolution: dt.timedelta

    def start(self, created_at: dt.datetime) -> dt.datetime:
        return next_working_instant(self.calendar, created_at)

    def due(self, created_at: dt.datetime, target: dt.timedelta, paused: dt.timedelta) -> dt.datetime:
        return add_working_time(self.calendar, created_at, target + paused)

    def paused_between(self, since: dt.datetime, until: dt.datetime) -> dt.timedelta:
        return working_time_between(self.calendar, since, until)

    def elapsed(self, created_at: dt.datetime, now: dt.datetime, paused: dt.timedelta) -> dt.timedelta:
        """Working time the clock has run since creation, without the time spent pending."""
        return working_time_between(self.calendar, created_at, now) - paused


def clock_for(settings: SupportSettings, tenant_timezone: str, priority: str) -> Clock:
    target = settings.target(priority)
    return Clock(calendar_for(settings, tenant_timezone), target.first_response_delta(), target.resolution_delta())
