"""Create, look up and revoke API keys. Keys are shown once; only an HMAC of them is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.models import ApiKey
from rentguy_crm.auth.permissions import ROLES, Permission, permissions_for
from rentguy_crm.config import get_settings
from rentguy_crm.db import utcnow
from rentguy_crm.errors import BadRequest, NotFound
from rentguy_crm.tenants.models import Tenant

KEY_PREFIX = "rg_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant comes from here, never from a request header alone."""

    tenant_id: int
    tenant_slug: str
    roles: tuple[str, ...]
    api_key_id: int | None
    name: str

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_for(self.roles)

    @property
    def actor(self) -> str:
        return f"apikey:{self.api_key_id}:{self.name}" if self.api_key_id else self.name

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def hash_key(raw: str) -> str:
    secret = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(secret, raw.encode(), hashlib.sha256).hexdigest()


def validate_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if not roles:
        raise BadRequest(f"Give at least one role; known roles: {', '.join(ROLES)}.")
    if unknown:
        raise BadRequest(f"Unknown role(s) {', '.join(unknown)}; known roles: {', '.join(ROLES)}.")
    return sorted(set(roles))


async def create_key(
    session: AsyncSession, tenant: Tenant, *, name: str, roles: list[str], actor: str = "cli"
) -> tuple[ApiKey, str]:
    roles = validate_roles(roles)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(tenant_id=tenant.id, name=name, prefix=raw[:10], key_hash=hash_key(raw), roles=roles,
                 created_by=actor)
    session.add(key)
    await session.flush()
    await audit.record(session, actor=actor, action="apikey.created", entity_type="api_key", entity_id=key.id,
                       tenant_id=tenant.id, after={"name": name, "roles": roles, "prefix": key.prefix})
    return key, raw


async def authenticate(session: AsyncSession, raw: str) -> Principal | None:
    row = (await session.execute(
        select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_hash == hash_key(raw), ApiKey.revoked_at.is_(None))
    )).first()
    if row is None:
        return None
    key, tenant = row
    return Principal(tenant_id=tenant.id, tenant_slug=tenant.slug, roles=tuple(key.roles), api_key_id=key.id,
                     name=key.name)


async def is_active(session: AsyncSession, raw: str) -> bool:
    return await authenticate(session, raw) is not None


async def list_keys(session: AsyncSession, tenant: Tenant | None = None) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if tenant is not None:
        stmt = stmt.where(ApiKey.tenant_id == tenant.id)
    return list((await session.scalars(stmt)).all())


async def revoke_key(session: AsyncSession, key_id: int, *, actor: str = "cli") -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"No API key with id {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await audit.record(session, actor=actor, action="apikey.revoked", entity_type="api_key",
                           entity_id=key.id, tenant_id=key.tenant_id)
    return key
