"""Staff users and their server-side sessions: create on first sign-in, sign in (SSO or a one-time link), check a
session cookie, revoke, disable. Services flush, never commit; every change is audited with ids only."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth import repository
from rentguy_crm.auth.models import LoginLink, User, UserSession
from rentguy_crm.auth.service import Principal, hash_key, validate_roles
from rentguy_crm.config import get_settings
from rentguy_crm.errors import AppError, BadRequest, NotFound
from rentguy_crm.kit import clock
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.sso import SsoSettings

SESSION_COOKIE = "crm_session"
CSRF_COOKIE = "crm_csrf"
CSRF_HEADER = "X-CSRF-Token"
LINK_DIRECTORY = "local"  # directory of people known only from sign-in links
LINK_LIFETIME = dt.timedelta(minutes=15)
# A session's last-seen time is written at most this often, so reading pages does not write on every request.
TOUCH_EVERY = dt.timedelta(seconds=15)
DEFAULT_IDLE = dt.timedelta(minutes=10)
DEFAULT_ABSOLUTE = dt.timedelta(hours=12)


class SignInRefused(AppError):
    """Sign-in refused; `reason` is a short code for the audit log, the detail says it in plain words."""

    status, code, title = 403, "sign-in-refused", "Sign-in refused"

    def __init__(self, reason: str, detail: str, *, status: int = 403, cause: str | None = None) -> None:
        super().__init__(detail, extra={"reason": reason})
        self.reason = reason
        self.status = status
        self.cause = cause  # for the audit log only: may name a secret reference, never shown to the caller


@dataclass(frozen=True)
class Lifetimes:
    idle: dt.timedelta = DEFAULT_IDLE
    absolute: dt.timedelta = DEFAULT_ABSOLUTE


def sso_settings(tenant: Tenant) -> SsoSettings | None:
    """The tenant's `sso` section as last provisioned, or None when it has none."""
    raw = (tenant.config or {}).get("sso")
    return SsoSettings.model_validate(raw) if raw else None


def lifetimes_of(tenant: Tenant) -> Lifetimes:
    """The tenant's session lifetimes (`sso.idle_timeout_minutes`, `sso.absolute_timeout_hours`), else defaults."""
    settings = sso_settings(tenant)
    if settings is None:
        return Lifetimes()
    return Lifetimes(idle=dt.timedelta(minutes=settings.idle_timeout_minutes),
                     absolute=dt.timedelta(hours=settings.absolute_timeout_hours))


def csrf_token_for(raw_session: str) -> str:
    """The CSRF token that belongs to a session cookie value (HMAC with the suite's secret; OWASP CSRF cheat sheet,
    "signed double-submit cookie"): a page of another site can neither read nor compute it."""
    secret = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(secret, b"csrf:" + raw_session.encode(), hashlib.sha256).hexdigest()


def csrf_matches(raw_session: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token_for(raw_session), sent or "")


async def upsert_sso_user(session: AsyncSession, tenant: Tenant, *, directory_id: str, object_id: str,
                          email: str | None, display_name: str | None, roles: list[str]) -> User:
    """The person with this directory + object id, created on first sign-in; roles follow the provider."""
    now = clock.now()
    user = await repository.find_user_by_identity(session, tenant.id, directory_id, object_id)
    if user is None:
        user = User(tenant_id=tenant.id, directory_id=directory_id, object_id=object_id, email=email,
                    display_name=display_name, roles=roles, last_sign_in_at=now)
        session.add(user)
        await session.flush()
        await audit.record(session, actor=f"user:{user.id}", action="user.created", entity_type="user",
                           entity_id=user.id, tenant_id=tenant.id, after={"roles": roles, "source": "sso"})
        return user
    if user.disabled_at is not None:
        raise SignInRefused("user_disabled", "Your account is disabled in this suite. Ask an administrator "
                                             "(crm users enable) if that is a mistake.")
    if sorted(user.roles or []) != roles:
        await audit.record(session, actor=f"user:{user.id}", action="user.roles_changed", entity_type="user",
                           entity_id=user.id, tenant_id=tenant.id, before={"roles": user.roles},
                           after={"roles": roles, "source": "sso"})
        user.roles = roles
    user.email, user.display_name, user.last_sign_in_at = email, display_name, now
    return user


async def start_session(session: AsyncSession, tenant: Tenant, user: User, *, roles: list[str], method: str,
                        lifetimes: Lifetimes) -> tuple[UserSession, str]:
    """A new session row; returns it with the cookie value (shown to the browser once, stored as a hash)."""
    now = clock.now()
    raw = secrets.token_urlsafe(32)
    row = UserSession(tenant_id=tenant.id, user_id=user.id, token_hash=hash_key("session:" + raw), roles=roles,
                      method=method, created_at=now, last_seen_at=now,
                      idle_timeout_seconds=int(lifetimes.idle.total_seconds()), expires_at=now + lifetimes.absolute)
    session.add(row)
    await session.flush()
    await audit.record(session, actor=f"user:{user.id}", action="session.started", entity_type="user_session",
                       entity_id=row.id, tenant_id=tenant.id,
                       after={"user_id": user.id, "roles": roles, "method": method,
                              "expires_at": row.expires_at.isoformat()})
    return row, raw


@dataclass(frozen=True)
class SessionCheck:
    principal: Principal | None
    reason: str | None  # why there is no principal: unknown, expired, idle, revoked, disabled
    needs_touch: bool = False


async def check_session(session: AsyncSession, raw: str) -> SessionCheck:
    """The principal of a live session cookie, or why there is none. Idle: no request for `idle_timeout_seconds`;
    absolute: `expires_at` passed; revoked (sign-out, `crm users sessions revoke`, a disabled user)."""
    found = await repository.session_by_token(session, hash_key("session:" + raw))
    if found is None:
        return SessionCheck(None, "unknown")
    row, user, tenant = found
    now = clock.now()
    if row.revoked_at is not None:
        return SessionCheck(None, "revoked")
    if user.disabled_at is not None:
        return SessionCheck(None, "disabled")
    if now >= row.expires_at:
        return SessionCheck(None, "expired")
    if now - row.last_seen_at > dt.timedelta(seconds=row.idle_timeout_seconds):
        return SessionCheck(None, "idle")
    principal = Principal(tenant_id=tenant.id, tenant_slug=tenant.slug, roles=tuple(row.roles or ()),
                          api_key_id=None, name=f"user {user.id}", user_id=user.id, session_id=row.id)
    return SessionCheck(principal, None, needs_touch=now - row.last_seen_at >= TOUCH_EVERY)


async def touch(session: AsyncSession, session_id: int) -> None:
    await repository.touch_session(session, session_id, clock.now())


async def end_session(session: AsyncSession, principal: Principal) -> None:
    """Sign-out: the session is revoked at once."""
    if principal.session_id is None:
        return
    await repository.revoke_sessions(session, principal.tenant_id, session_id=principal.session_id,
                                     at=clock.now(), reason="signed_out")
    await audit.record(session, actor=principal.actor, action="session.ended", entity_type="user_session",
                       entity_id=principal.session_id, tenant_id=principal.tenant_id)


async def revoke(session: AsyncSession, tenant: Tenant, *, user_id: int | None = None,
                 session_id: int | None = None, actor: str) -> int:
    """Revoke one session or all of a user's; returns how many were live. Requests with them get 401 at once."""
    if user_id is not None and await repository.get_user(session, tenant.id, user_id) is None:
        raise NotFound(f"No user {user_id} in tenant {tenant.slug} (see 'crm users list --tenant {tenant.slug}').")
    if session_id is not None and await repository.get_session_row(session, tenant.id, session_id) is None:
        raise NotFound(f"No session {session_id} in tenant {tenant.slug}.")
    count = await repository.revoke_sessions(session, tenant.id, user_id=user_id, session_id=session_id,
                                             at=clock.now(), reason="revoked")
    await audit.record(session, actor=actor, action="session.revoked", entity_type="user_session",
                       entity_id=session_id, tenant_id=tenant.id,
                       after={"user_id": user_id, "session_id": session_id, "revoked": count})
    return count


async def get_user(session: AsyncSession, tenant: Tenant, user_id: int) -> User:
    user = await repository.get_user(session, tenant.id, user_id)
    if user is None:
        raise NotFound(f"No user {user_id} in tenant {tenant.slug} (see 'crm users list --tenant {tenant.slug}').")
    return user


async def set_disabled(session: AsyncSession, tenant: Tenant, user_id: int, *, disabled: bool,
                       actor: str) -> tuple[User, int]:
    """Disable (and revoke every session at once) or enable a user; returns the user and sessions revoked."""
    user = await get_user(session, tenant, user_id)
    revoked = 0
    if disabled and user.disabled_at is None:
        user.disabled_at = clock.now()
        revoked = await repository.revoke_sessions(session, tenant.id, user_id=user.id, at=clock.now(),
                                                   reason="user_disabled")
        await audit.record(session, actor=actor, action="user.disabled", entity_type="user", entity_id=user.id,
                           tenant_id=tenant.id, after={"sessions_revoked": revoked})
    elif not disabled and user.disabled_at is not None:
        user.disabled_at = None
        await audit.record(session, actor=actor, action="user.enabled", entity_type="user", entity_id=user.id,
                           tenant_id=tenant.id)
    await session.flush()
    return user, revoked


async def create_link(session: AsyncSession, tenant: Tenant, *, email: str, roles: list[str], actor: str,
                      lifetime: dt.timedelta = LINK_LIFETIME) -> tuple[LoginLink, str]:
    """A one-time sign-in link for the person with this e-mail address (created as a link-only user when the
    suite does not know them). Returns the link row and its token (printed once, stored as a hash)."""
    roles = validate_roles(roles)
    email = email.strip()
    if "@" not in email or len(email) > 320:
        raise BadRequest("Give the person's e-mail address, e.g. --email sofie@example.nl.")
    user = await repository.find_user_by_email(session, tenant.id, email)
    if user is None:
        user = User(tenant_id=tenant.id, directory_id=LINK_DIRECTORY, object_id=email.lower(), email=email,
                    roles=roles)
        session.add(user)
        await session.flush()
        await audit.record(session, actor=actor, action="user.created", entity_type="user", entity_id=user.id,
                           tenant_id=tenant.id, after={"roles": roles, "source": "login_link"})
    if user.disabled_at is not None:
        raise SignInRefused("user_disabled", f"User {user.id} is disabled; enable them first "
                                             f"(crm users enable {user.id} --tenant {tenant.slug}).", status=409)
    now = clock.now()
    raw = secrets.token_urlsafe(32)
    link = LoginLink(tenant_id=tenant.id, user_id=user.id, token_hash=hash_key("link:" + raw), roles=roles,
                     created_by=actor, created_at=now, expires_at=now + lifetime)
    session.add(link)
    await session.flush()
    await audit.record(session, actor=actor, action="login_link.created", entity_type="login_link",
                       entity_id=link.id, tenant_id=tenant.id,
                       after={"user_id": user.id, "roles": roles, "expires_at": link.expires_at.isoformat()})
    return link, raw


async def redeem_link(session: AsyncSession, raw: str) -> tuple[UserSession, str, Tenant]:
    """Use a sign-in link once: a new session with the link's roles. Refused when unknown, used or expired."""
    token_hash = hash_key("link:" + raw)
    link = await repository.claim_link(session, token_hash, clock.now())
    if link is None:
        known = await repository.link_by_token(session, token_hash)
        if known is None:
            raise SignInRefused("link_unknown", "This sign-in link is not valid. Ask an administrator for a new one.")
        if known.used_at is not None:
            raise SignInRefused("link_used", "This sign-in link has already been used; a link works once. "
                                             "Ask an administrator for a new one.")
        raise SignInRefused("link_expired", "This sign-in link has expired (links are valid for 15 minutes). "
                                            "Ask an administrator for a new one.")
    tenant = await tenants.by_id(session, link.tenant_id)
    user = await repository.get_user(session, link.tenant_id, link.user_id)
    assert tenant is not None and user is not None  # foreign keys with ON DELETE CASCADE
    if user.disabled_at is not None:
        raise SignInRefused("user_disabled", "Your account is disabled in this suite.")
    user.last_sign_in_at = clock.now()
    lifetimes = lifetimes_of(tenant)
    row, raw_session = await start_session(session, tenant, user, roles=list(link.roles), method="link",
                                           lifetimes=lifetimes)
    await audit.record(session, actor=f"user:{user.id}", action="login_link.used", entity_type="login_link",
                       entity_id=link.id, tenant_id=tenant.id, after={"session_id": row.id})
    return row, raw_session, tenant
