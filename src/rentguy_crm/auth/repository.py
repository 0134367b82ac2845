"""API-key queries: the key behind a presented secret, and the keys an operator lists or revokes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.models import ApiKey
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, TenantScope


async def active_key(session: AsyncSession, key_hash: str) -> tuple[int, str, list[str], int, str] | None:
    """`(key id, name, roles, tenant id, tenant slug)` of the unrevoked key with this HMAC, or None.
    Authentication runs before any scope exists: the key itself says which tenant it belongs to."""
    row = (await session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.roles, Tenant.id, Tenant.slug)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )).first()
    return None if row is None else (row[0], row[1], list(row[2]), row[3], row[4])


async def keys(session: AsyncSession, scope: TenantScope | AllTenants) -> list[ApiKey]:
    """The keys of one tenant, or of every tenant (operators' `crm apikeys list`), by id."""
    stmt = select(ApiKey).order_by(ApiKey.id)
    if isinstance(scope, TenantScope):
        stmt = stmt.where(ApiKey.tenant_id == scope.tenant_id)
    return list((await session.scalars(stmt)).all())


async def key_by_id(session: AsyncSession, scope: TenantScope | AllTenants, key_id: int) -> ApiKey | None:
    key = await session.get(ApiKey, key_id)
    if key is None or (isinstance(scope, TenantScope) and key.tenant_id != scope.tenant_id):
        return None
    return key
