"""Create, look up and revoke API keys. Keys are shown once; only an HMAC of them is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
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
# How long an API process trusts a key it has authenticated: a revocation reaches every process within this.
# Revoking through `revoke_key` forgets the key in the revoking process at once.
PRINCIPAL_CACHE_SECONDS = 5.0
_PRINCIPAL_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant comes from here, never from a request header alone."""

    tenant_id: int
    tenant_slug: str
    roles: tuple[str, ...]
    api_key_id: int | None
    name: str
    user_id: int | None = None      # set when a person signed in (SSO or a sign-in link)
    session_id: int | None = None

    @property
    def kind(self) -> str:
        return "session" if self.user_id else "key"

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_for(self.roles)

    @property
    def actor(self) -> str:
        if self.user_id:
            return f"user:{self.user_id}"  # an id, not a name or address: audit lines carry no personal data
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


def _monotonic() -> float:
    return time.monotonic()


# key hash → (when it was read, principal). Only known, unrevoked keys are kept: an unknown key always asks.
_principals: dict[str, tuple[float, Principal]] = {}


def forget_principals(api_key_id: int | None = None) -> None:
    """Drop cached principals (all, or those of one key)."""
    if api_key_id is None:
        _principals.clear()
        return
    for digest in [d for d, (_at, p) in _principals.items() if p.api_key_id == api_key_id]:
        _principals.pop(digest, None)


async def authenticate(session: AsyncSession, raw: str, *, cached: bool = False) -> Principal | None:
    """The principal of an unrevoked key, or None. With `cached`, a key read in the last
    PRINCIPAL_CACHE_SECONDS is answered from this process's memory (the request path uses this)."""
    digest = hash_key(raw)
    if cached:
        hit = _principals.get(digest)
        if hit is not None and _monotonic() - hit[0] <= PRINCIPAL_CACHE_SECONDS:
            return hit[1]
    row = (await session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.roles, Tenant.id, Tenant.slug)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
    )).first()
    if row is None:
        _principals.pop(digest, None)
        return None
    key_id, name, roles, tenant_id, tenant_slug = row
    principal = Principal(tenant_id=tenant_id, tenant_slug=tenant_slug, roles=tuple(roles), api_key_id=key_id,
                          name=name)
    if len(_principals) >= _PRINCIPAL_CACHE_MAX:
        _principals.clear()
    _principals[digest] = (_monotonic(), principal)
    return principal


async def is_active(session: AsyncSession, raw: str) -> bool:
    return await authenticate(session, raw) is not None


async def list_keys(session: AsyncSession, tenant: Tenant | None = None) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if tenant is not None:
        stmt = stmt.where(ApiKey.tenant_id == tenant.id)
    return list((await session.scalars(stmt)).all())


async def get_key(session: AsyncSession, key_id: int) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"No API key with id {key_id} (see 'crm apikeys list').")
    return key


async def revoke_key(session: AsyncSession, key_id: int, *, actor: str = "cli") -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing (its first revocation stays the recorded one)."""
    key = await get_key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        forget_principals(key.id)
        await audit.record(session, actor=actor, action="apikey.revoked", entity_type="api_key",
                           entity_id=key.id, tenant_id=key.tenant_id)
    return key
