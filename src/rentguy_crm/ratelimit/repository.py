"""Rate-limit profile switches: one row per tenant that has ever switched away from its default."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.ratelimit.models import RateLimitSwitch
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, TenantScope


async def switch(session: AsyncSession, scope: TenantScope) -> RateLimitSwitch | None:
    """The tenant's switch row (None: it runs on its default profile). Read on the public lead path, where the
    tenant is the one the submission names, and by operators' commands."""
    return await session.scalar(select(RateLimitSwitch).where(RateLimitSwitch.tenant_id == scope.tenant_id))


async def expired_switches(session: AsyncSession, scope: AllTenants,
                           now: dt.datetime) -> list[tuple[RateLimitSwitch, Tenant]]:
    """Every tenant's switch whose time is up, locked (rows another process holds are skipped): the scheduled
    revert works across tenants."""
    rows = (await session.execute(
        select(RateLimitSwitch, Tenant).join(Tenant, Tenant.id == RateLimitSwitch.tenant_id)
        .where(RateLimitSwitch.until.is_not(None), RateLimitSwitch.until <= now)
        .with_for_update(of=RateLimitSwitch, skip_locked=True)
    )).all()
    return [(row[0], row[1]) for row in rows]


async def tenants_with_switches(session: AsyncSession, scope: AllTenants,
                                ) -> list[tuple[Tenant, RateLimitSwitch | None]]:
    """Every tenant by slug with its switch row (None: on its default): the profile gauge reads them all."""
    rows = await session.execute(select(Tenant, RateLimitSwitch)
                                 .outerjoin(RateLimitSwitch, RateLimitSwitch.tenant_id == Tenant.id)
                                 .order_by(Tenant.slug))
    return [(tenant, switch) for tenant, switch in rows]
