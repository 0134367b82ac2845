"""Every query on users, sign-in sessions and sign-in links. Each takes the tenant it may read (a row of
another tenant is not found) except the look-ups by a token hash, which is the credential itself."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.models import ApiKey, LoginLink, User, UserSession
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants, TenantScope


async def find_user_by_identity(session: AsyncSession, tenant_id: int, directory_id: str,
                                object_id: str) -> User | None:
    return await session.scalar(select(User).where(
        User.tenant_id == tenant_id, User.directory_id == directory_id, User.object_id == object_id))


async def find_user_by_email(session: AsyncSession, tenant_id: int, email: str) -> User | None:
    return await session.scalar(select(User).where(
        User.tenant_id == tenant_id, func.lower(User.email) == email.strip().lower()).order_by(User.id).limit(1))


async def get_user(session: AsyncSession, tenant_id: int, user_id: int) -> User | None:
    return await session.scalar(select(User).where(User.tenant_id == tenant_id, User.id == user_id))


async def list_users(session: AsyncSession, tenant_id: int) -> list[User]:
    return list((await session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id))).all())


async def assignable_emails(session: AsyncSession, tenant_id: int) -> list[str]:
    """Who a lead or deal can be given to: the tenant's people with an e-mail address and an active account,
    sorted."""
    return sorted({u.email for u in await list_users(session, tenant_id) if u.email and u.disabled_at is None})


async def list_sessions(session: AsyncSession, tenant_id: int, user_id: int | None = None,
                        *, live_at: dt.datetime | None = None) -> list[UserSession]:
    stmt = select(UserSession).where(UserSession.tenant_id == tenant_id)
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    if live_at is not None:
        stmt = stmt.where(UserSession.revoked_at.is_(None), UserSession.expires_at > live_at)
    return list((await session.scalars(stmt.order_by(UserSession.id))).all())


async def get_session_row(session: AsyncSession, tenant_id: int, session_id: int) -> UserSession | None:
    return await session.scalar(select(UserSession).where(UserSession.tenant_id == tenant_id,
                                                          UserSession.id == session_id))


async def session_by_token(session: AsyncSession, token_hash: str) -> tuple[UserSession, User, Tenant] | None:
    """A session row with its user and tenant, whatever their state (the caller decides what is live)."""
    row = (await session.execute(
        select(UserSession, User, Tenant)
        .join(User, (User.id == UserSession.user_id) & (User.tenant_id == UserSession.tenant_id))
        .join(Tenant, Tenant.id == UserSession.tenant_id)
        .where(UserSession.token_hash == token_hash)
    )).first()
    return None if row is None else (row[0], row[1], row[2])


async def revoke_sessions(session: AsyncSession, tenant_id: int, *, user_id: int | None = None,
                          session_id: int | None = None, at: dt.datetime, reason: str) -> int:
    """Revoke the live sessions of one user or one session; returns how many were live."""
    stmt = update(UserSession).where(UserSession.tenant_id == tenant_id, UserSession.revoked_at.is_(None))
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    if session_id is not None:
        stmt = stmt.where(UserSession.id == session_id)
    result = await session.execute(stmt.values(revoked_at=at, revoked_reason=reason))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def touch_session(session: AsyncSession, session_id: int, at: dt.datetime) -> None:
    await session.execute(update(UserSession).where(UserSession.id == session_id).values(last_seen_at=at))


async def claim_link(session: AsyncSession, token_hash: str, at: dt.datetime) -> LoginLink | None:
    """Mark an unused, unexpired link used, atomically: of two requests with one link only one gets it."""
    result = await session.execute(
        update(LoginLink)
        .where(LoginLink.token_hash == token_hash, LoginLink.used_at.is_(None), LoginLink.expires_at > at)
        .values(used_at=at))
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return await session.scalar(select(LoginLink).where(LoginLink.token_hash == token_hash))


async def link_by_token(session: AsyncSession, token_hash: str) -> LoginLink | None:
    return await session.scalar(select(LoginLink).where(LoginLink.token_hash == token_hash))


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
