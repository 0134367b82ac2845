"""Create, look up and revoke API keys. Keys are shown once; only an HMAC of them is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth import repository
from rentguy_crm.auth.models import ApiKey
from rentguy_crm.auth.permissions import ROLES, Permission, permissions_for
from rentguy_crm.config import get_settings
from rentguy_crm.db import utcnow
from rentguy_crm.errors import BadRequest, NotFound
from rentguy_crm.kit.ttl_cache import Missing, TtlCache
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, TenantScope

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
    def scope(self) -> TenantScope:
        """The rows this principal may read and write: its own tenant's, as proven by its key."""
        return TenantScope(self.tenant_id)

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


def vendor_proven_scope(tenant_id: int) -> TenantScope:
    """The scope of an inbound vendor call whose tenant the vendor proved: the object fetched back from the vendor
    with the tenant's own key (Mollie), or a signature made with the tenant's secret (Typeform). Webhook doors
    call this once the proof holds; the tenant named in their URL alone proves nothing."""
    return TenantScope(tenant_id)


def lead_door_scope(tenant_id: int) -> TenantScope:
    """The scope of a lead door (the website's public form, the Typeform webhook): it writes leads for the tenant
    its submission or URL names, which is all such a door may do; a key-authenticated post uses the key's scope."""
    return TenantScope(tenant_id)


def signed_link_scope(tenant_id: int) -> TenantScope:
    """The scope of a link we signed with our own key for one tenant's contact (the unsubscribe link): the
    signature, checked before this is called, proves the tenant."""
    return TenantScope(tenant_id)


def job_scope(tenant_id: int) -> TenantScope:
    """The scope of system work on rows it already holds: a scheduled job that reads every tenant's events and
    acts on each one's own tenant, or a step that continues on a row read within a proven scope."""
    return TenantScope(tenant_id)


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


# key hash → principal. Only known, unrevoked keys are kept: an unknown key always asks.
_principals: TtlCache[str, Principal] = TtlCache("api key principals", PRINCIPAL_CACHE_SECONDS,
                                                 max_entries=_PRINCIPAL_CACHE_MAX)


def forget_principals(api_key_id: int | None = None) -> None:
    """Drop cached principals (all, or those of one key)."""
    if api_key_id is None:
        _principals.clear()
        return
    _principals.discard_where(lambda principal: principal.api_key_id == api_key_id)


async def authenticate(session: AsyncSession, raw: str, *, cached: bool = False) -> Principal | None:
    """The principal of an unrevoked key, or None. With `cached`, a key read in the last
    PRINCIPAL_CACHE_SECONDS is answered from this process's memory (the request path uses this)."""
    digest = hash_key(raw)
    if cached:
        hit = _principals.get(digest)
        if not isinstance(hit, Missing):
            return hit
    row = await repository.active_key(session, digest)
    if row is None:
        _principals.discard(digest)
        return None
    key_id, name, roles, tenant_id, tenant_slug = row
    principal = Principal(tenant_id=tenant_id, tenant_slug=tenant_slug, roles=tuple(roles), api_key_id=key_id,
                          name=name)
    return _principals.put(digest, principal)


async def is_active(session: AsyncSession, raw: str) -> bool:
    return await authenticate(session, raw) is not None


async def list_keys(session: AsyncSession, scope: TenantScope | AllTenants) -> list[ApiKey]:
    return await repository.keys(session, scope)


async def get_key(session: AsyncSession, key_id: int, scope: TenantScope | AllTenants) -> ApiKey:
    key = await repository.key_by_id(session, scope, key_id)
    if key is None:
        raise NotFound(f"No API key with id {key_id} (see 'crm apikeys list').")
    return key


async def revoke_key(session: AsyncSession, key_id: int, *, actor: str = "cli",
                     scope: TenantScope | AllTenants | None = None) -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing (its first revocation stays the recorded one).
    `scope`: the tenant(s) whose keys the caller may revoke; the default is an operator's (every tenant)."""
    key = await get_key(session, key_id, scope if scope is not None else AllTenants())
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        forget_principals(key.id)
        await audit.record(session, actor=actor, action="apikey.revoked", entity_type="api_key",
                           entity_id=key.id, tenant_id=key.tenant_id)
    return key
