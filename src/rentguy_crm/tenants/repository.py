"""Tenant look-ups by id, slug or alias."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.errors import NotFound
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, TenantScope


async def by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    """The tenant of exactly this slug (no aliases): provisioning matches its own file's slug."""
    return await session.scalar(select(Tenant).where(Tenant.slug == slug))


async def find(session: AsyncSession, slug_or_alias: str) -> Tenant | None:
    wanted = slug_or_alias.strip().lower()
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == wanted))
    if tenant is not None:
        return tenant
    # Aliases are few per tenant and tenants are few: match them here rather than with JSON operators
    # that differ between Postgres and SQLite.
    for candidate in (await session.scalars(select(Tenant))).all():
        if wanted in (candidate.aliases or []):
            return candidate
    return None


async def get(session: AsyncSession, slug_or_alias: str) -> Tenant:
    tenant = await find(session, slug_or_alias)
    if tenant is None:
        raise NotFound(
            f"No tenant '{slug_or_alias}'. Provision it with: crm tenants provision configs/tenants/<slug>.json"
        )
    return tenant


async def by_scope(session: AsyncSession, scope: TenantScope) -> Tenant | None:
    """The tenant a principal acts for (from the session's identity map when already loaded)."""
    return await session.get(Tenant, scope.tenant_id)


async def list_all(session: AsyncSession, scope: AllTenants) -> list[Tenant]:
    """Every tenant, by slug: operators' commands only."""
    return list((await session.scalars(select(Tenant).order_by(Tenant.slug))).all())


async def list_in_order_made(session: AsyncSession, scope: AllTenants) -> list[Tenant]:
    """Every tenant, oldest first: scheduled jobs that work through each one."""
    return list((await session.scalars(select(Tenant).order_by(Tenant.id))).all())


async def by_id(session: AsyncSession, tenant_id: int) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def slug_of(session: AsyncSession, tenant_id: int) -> str | None:
    return await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))


async def id_of_slug(session: AsyncSession, slug: str) -> int | None:
    """The id of the tenant with exactly this slug (no alias)."""
    return await session.scalar(select(Tenant.id).where(Tenant.slug == slug))


async def ids_and_timezones(session: AsyncSession) -> list[tuple[int, str]]:
    return [(tenant_id, timezone) for tenant_id, timezone in
            (await session.execute(select(Tenant.id, Tenant.timezone).order_by(Tenant.id))).all()]


async def lock(session: AsyncSession, tenant_id: int) -> None:
    """Hold the tenant's row until the transaction ends (Postgres; SQLite serialises writers anyway)."""
    await session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
