"""The M365 calendar sync as a command and as a scheduled run of the workers (every 5 minutes), wiring the Graph
client to the domain's sync (`crm.calendar_sync.service`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm.calendar_sync.service import SyncReport, sync_calendar
from rentguy_crm.errors import AppError
from rentguy_crm.integrations.graph.client import GraphCalendar, Sleep
from rentguy_crm.kit import secrets
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants
from rentguy_crm.tenants.sections.calendar import CalendarSettings

log = structlog.get_logger(__name__)

JOB_NAME = "m365.calendar_sync"
JOB_CRON = "*/5 * * * *"


class CalendarNotConfigured(AppError):
    status, code, title = 409, "calendar-not-configured", "Calendar sync not configured"


def calendar_settings(tenant: Tenant) -> CalendarSettings:
    """The tenant's `calendar` section; CalendarNotConfigured says what is missing or wrong."""
    try:
        settings = CalendarSettings.model_validate((tenant.config or {}).get("calendar") or {})
    except ValidationError as exc:
        raise CalendarNotConfigured(f"the 'calendar' section of tenant {tenant.slug} is invalid: "
                                    f"{exc.errors()[0]['msg']}") from None
    if not settings.enabled:
        raise CalendarNotConfigured(
            f"the M365 calendar sync is not enabled for tenant {tenant.slug}: set calendar.enabled, directory_id, "
            "client_id, client_secret and calendar_owner in its config and provision it (docs/calendar.md)")
    return settings


async def sync_tenant(session: AsyncSession, tenant: Tenant, *, now: dt.datetime,
                      checkpoint: Callable[[], Awaitable[None]], full: bool = False, sleep: Sleep | None = None,
                      transport: httpx.AsyncBaseTransport | None = None) -> SyncReport:
    settings = calendar_settings(tenant)
    kwargs: dict[str, Any] = {"transport": transport}
    if sleep is not None:
        kwargs["sleep"] = sleep
    async with GraphCalendar(settings, time_zone=tenant.timezone, **kwargs) as calendar:
        return await sync_calendar(session, tenant, settings, calendar, now=now, checkpoint=checkpoint, full=full)


async def sync_all_tenants(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """The scheduled run: every tenant with the sync enabled, one after the other; one tenant's failure (Graph
    down, secret missing) is reported and does not stop the others.

    It works in a session of its own on the same engine and commits per page and per event (see the service), so
    the tick's session stays unused until the tick is recorded and a cut-off round resumes where it stopped."""
    results: dict[str, Any] = {}
    async with AsyncSession(session.bind, expire_on_commit=False) as listing:
        tenant_ids = [t.id for t in await tenants.list_in_order_made(listing, AllTenants())
                      if ((t.config or {}).get("calendar") or {}).get("enabled")]
    for tenant_id in tenant_ids:
        async with AsyncSession(session.bind, expire_on_commit=False) as own:
            tenant = await tenants.by_id(own, tenant_id)
            assert tenant is not None
            try:
                report = await sync_tenant(own, tenant, now=now, checkpoint=own.commit)
                await own.commit()
                results[tenant.slug] = {k: len(v) if isinstance(v, list) else v
                                        for k, v in report.as_dict().items() if k != "tenant"}
            except (AppError, secrets.SecretUnavailable) as exc:
                await own.rollback()
                log.warning("calendar_sync_failed", tenant=tenant.slug, error=str(exc)[:300])
                results[tenant.slug] = {"error": str(exc)[:300]}
    return results
