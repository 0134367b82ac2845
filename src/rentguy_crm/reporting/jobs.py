"""The scheduled delivery of the reports; importing this module registers it with the workers' scheduler.

`reporting.deliver`, every 5 minutes: for each tenant whose `reports` section is enabled and names recipients,
the weekly Automation SLA of the past ISO week once its send moment (default Monday 08:00 in the tenant's zone)
has come, and the retro of the past month on the first working day of the month (Monday to Friday, not a public
holiday of `holiday_country`, from the `holidays` package) at `retro_time`. A period is sent once: the archive
row with its `sent_at` is the record, so a tick that runs twice or on two workers sends nothing twice (the
archive's unique (tenant, kind, period) refuses the second row). Only the latest period is looked at: a week
missed while every worker was down for a whole week is sent by hand (`crm reports send`). A period that was
over before the tenant was provisioned is not sent: a new tenant's first report is of its first week.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine.schedules import scheduled_job
from rentguy_crm.db import READ_ONLY_OPTION
from rentguy_crm.integrations.registry import build_channels
from rentguy_crm.reporting import periods, repository, service
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.reports import ReportsSettings

log = structlog.get_logger(__name__)

DELIVER_JOB = "reporting.deliver"
ACTOR = f"schedule:{DELIVER_JOB}"


def first_working_day(year: int, month: int, country: str | None) -> dt.date:
    """The first day of the month that is Monday to Friday and not a public holiday of `country`."""
    closed = holidays.country_holidays(country, years=year) if country else {}
    day = dt.date(year, month, 1)
    while day.weekday() >= 5 or day in closed:
        day += dt.timedelta(days=1)
    return day


def due_periods(settings: ReportsSettings, zone: str, now: dt.datetime) -> list[tuple[str, periods.Period]]:
    """The (kind, period) whose send moment has passed at `now` and that are over in UTC: the ISO week before
    the current local week, the month before the current local month."""
    local = now.astimezone(ZoneInfo(zone))
    due: list[tuple[str, periods.Period]] = []
    monday = local.date() - dt.timedelta(days=local.weekday())
    send_day = monday + dt.timedelta(days=settings.weekday_index)
    send_at = dt.datetime.combine(send_day, settings.clock_time(settings.weekly_time), tzinfo=local.tzinfo)
    if local >= send_at:
        week = periods.week_of(monday - dt.timedelta(days=7))
        if week.end <= now:
            due.append(("automation_sla", week))
    first = first_working_day(local.year, local.month, settings.holiday_country)
    retro_at = dt.datetime.combine(first, settings.clock_time(settings.retro_time), tzinfo=local.tzinfo)
    if local >= retro_at:
        month = periods.previous_month(periods.month(f"{local.year}-{local.month:02d}"))
        if month.end <= now:
            due.append(("retro", month))
    return due


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC timestamps.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@asynccontextmanager
async def _reading_beside(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A read-only session on the tick's engine. The figures, charts and PDF (seconds of work) are made in it,
    before the tick's own session takes SQLite's write lock, so lead capture is not kept waiting meanwhile."""
    async with AsyncSession(session.bind, expire_on_commit=False) as reader, reader.begin():
        await reader.connection(execution_options={READ_ONLY_OPTION: True})
        yield reader


async def _due_reports(reader: AsyncSession, now: dt.datetime) -> list[tuple[Tenant, service.PreparedReport]]:
    due: list[tuple[Tenant, service.PreparedReport]] = []
    for row in await repository.tenants_with_reports(reader):
        raw = (row.config or {}).get("reports")
        if not raw:
            continue
        settings = ReportsSettings.model_validate(raw)
        if not settings.enabled or not settings.recipients:
            continue
        for kind, period in due_periods(settings, settings.timezone or row.timezone, now):
            if _aware(row.created_at) >= period.end:
                continue  # the period was over before the tenant existed: nothing of its own to report
            existing = await repository.find_report(reader, row.id, kind, period.label)
            if existing is not None and existing.sent_at is not None:
                continue
            tenant = await tenants.by_id(reader, row.id)
            assert tenant is not None
            due.append((tenant, await service.prepare(reader, tenant, kind, period, now=now, isolate=True)))
    return due


async def deliver_due_reports(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """One tick. Each report is archived and sent in its own savepoint: a tenant whose mail server refuses (the
    report stays unsent and is tried again at the next tick) does not hold back the other tenants' reports."""
    async with _reading_beside(session) as reader:
        due = await _due_reports(reader, now)
    sent: list[str] = []
    failed: list[str] = []
    for tenant, prepared in due:
        name = f"{tenant.slug}:{prepared.kind}:{prepared.period}"
        existing = await repository.find_report(session, tenant.id, prepared.kind, prepared.period)
        if existing is not None and existing.sent_at is not None:  # another worker sent it meanwhile
            continue
        try:
            async with session.begin_nested():
                report = await service.archive(session, tenant, prepared, actor=ACTOR, now=now)
                channels = await build_channels(tenant)
                await service.send(session, tenant, report, channels.mailer, actor=ACTOR, now=now)
        except Exception as exc:  # one tenant's broken mail setup must not stop the others' reports
            # The error type only: a delivery error's text can name the recipient's address (no personal data
            # in logs); `crm reports send` shows the whole sentence to the operator.
            log.warning("report_delivery_failed", tenant=tenant.slug, kind=prepared.kind, period=prepared.period,
                        error=type(exc).__name__)
            failed.append(name)
            continue
        sent.append(name)
    return {k: v for k, v in (("sent", sent), ("failed", failed)) if v}


scheduled_job(DELIVER_JOB, "*/5 * * * *")(deliver_due_reports)
