"""Queries of the watchdog's state (`crm_watchdog_alerts`): its alerts and the marker rows kept in the same table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.observability.models import WatchdogAlert
from rentguy_crm.tenants.scope import AllTenants, TenantScope


async def touch_marker(session: AsyncSession, scope: TenantScope, marker: str, now: dt.datetime) -> None:
    """Set the tenant's marker row `marker` to `now` (one row per tenant, overwritten)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(WatchdogAlert).values(tenant_id=scope.tenant_id, alert=marker, workflow_key="*",
                                        firing=False, last_checked_at=now, created_at=now, updated_at=now)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["tenant_id", "alert", "workflow_key"],
        set_={"last_checked_at": now, "updated_at": now}))


async def marker_times(session: AsyncSession, scope: AllTenants, marker: str) -> dict[int, dt.datetime]:
    """When each tenant's marker row `marker` was last set, per tenant id."""
    rows = await session.execute(select(WatchdogAlert.tenant_id, WatchdogAlert.last_checked_at)
                                 .where(WatchdogAlert.alert == marker))
    return {tenant_id: at for tenant_id, at in rows}


async def firing(session: AsyncSession, scope: AllTenants, alert: str) -> list[tuple[int, str, float]]:
    """(tenant id, workflow, failure rate) of every `alert` held firing."""
    rows = await session.execute(select(WatchdogAlert.tenant_id, WatchdogAlert.workflow_key,
                                        WatchdogAlert.failure_rate)
                                 .where(WatchdogAlert.alert == alert, WatchdogAlert.firing.is_(True)))
    return [(t, w, r) for t, w, r in rows]


async def alerts(session: AsyncSession, scope: AllTenants, alert: str) -> list[WatchdogAlert]:
    """Every tenant's and workflow's state of `alert`."""
    return list((await session.scalars(select(WatchdogAlert).where(WatchdogAlert.alert == alert))).all())
