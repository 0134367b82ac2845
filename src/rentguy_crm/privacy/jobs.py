"""The daily retention run of every tenant, registered by `automation.builtin.install()` like the other jobs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.config import get_settings
from rentguy_crm.privacy.retention import apply_retention
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import AllTenants


def outbox_folder(slug: str) -> Path:
    return get_settings().var_dir / "outbox" / slug


async def retention_job(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """`fn(session, now)` of `privacy.retention`: anonymise what each tenant's retention period has run out for."""
    done: dict[str, Any] = {}
    for tenant in await tenants.list_in_order_made(session, AllTenants()):
        report = await apply_retention(session, tenant, now, outbox=outbox_folder(tenant.slug))
        if report.leads_anonymised:
            done[tenant.slug] = {"people": report.people_anonymised, "leads": report.leads_anonymised}
    return done
