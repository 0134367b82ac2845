"""`crm apikeys …` (create, shown once; list; revoke) and `crm users …` (staff users, sessions and one-time
sign-in links)."""

from __future__ import annotations

from typing import Any

import typer

from rentguy_crm.auth import announcements, service, sessions
from rentguy_crm.auth import repository as users_repository
from rentguy_crm.auth.permissions import ROLES
from rentguy_crm.config import get_settings
from rentguy_crm.db import one_off_session
from rentguy_crm.kit import clock
from rentguy_crm.kit.console import JsonOption, cli_actor, console, emit, fail, format_time, run_async, use_zone
from rentguy_crm.kit.inputs import MAX_ID
from rentguy_crm.tenants import repository
from rentguy_crm.tenants.scope import AllTenants, TenantScope

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@app.command("create")
def create(
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug or alias"),
    role: list[str] = typer.Option(..., "--role", help=f"Role, repeatable: {', '.join(ROLES)}"),
    name: str = typer.Option(..., "--name", help="What the key is for, e.g. 'website backend'"),
    as_json: bool = JsonOption,
) -> None:
    """Create a key. It is printed once; only its hash is stored."""

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            t = await repository.get(session, tenant)
            key, raw = await service.create_key(session, t, name=name, roles=role)
            return {"id": key.id, "tenant": t.slug, "name": key.name, "roles": key.roles, "key": raw}

    data = run_async(go)
    if as_json:
        emit(data, as_json=True)
        return
    console.print(f"Created API key {data['id']} for tenant {data['tenant']} (roles: {', '.join(data['roles'])}).")
    console.print("Store it now; it is not shown again:")
    console.print(data["key"], highlight=False, soft_wrap=True)


@app.command("list")
def list_keys(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's keys"),
    as_json: bool = JsonOption,
) -> None:
    """List keys (never the keys themselves: id, prefix, roles, status)."""

    async def go() -> list[dict[str, Any]]:
        async with one_off_session() as session:
            t = await repository.get(session, tenant) if tenant else None
            use_zone(t.timezone if t else None)
            keys = await service.list_keys(session, TenantScope(t.id) if t else AllTenants())
            return [{"id": k.id, "tenant_id": k.tenant_id, "name": k.name, "prefix": k.prefix,
                     "roles": k.roles, "created_at": k.created_at,
                     "status": "revoked" if k.revoked_at else "active"} for k in keys]

    emit(run_async(go), as_json=as_json,
         columns=["id", "tenant_id", "name", "prefix", "roles", "status", "created_at"], title="API keys")


@app.command("revoke")
def revoke(
    key_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Key id from 'crm apikeys list'"),
    as_json: bool = JsonOption,
) -> None:
    """Revoke a key; requests with it get 401 from then on."""

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            key = await service.get_key(session, key_id, AllTenants())
            already = key.revoked_at is not None
            if not already:
                key = await service.revoke_key(session, key_id, actor=cli_actor())
            return {"id": key.id, "name": key.name, "revoked_at": key.revoked_at, "already_revoked": already}

    data = run_async(go)
    if as_json:
        emit(data, as_json=True)
    elif data["already_revoked"]:
        console.print(f"API key {data['id']} ({data['name']}) was already revoked at "
                      f"{format_time(data['revoked_at'])}; nothing changed.", highlight=False)
    else:
        console.print(f"Revoked API key {data['id']} ({data['name']}).", highlight=False)


users_app = typer.Typer(help="Staff users: list, show, disable, enable, sessions, one-time sign-in links.",
                        no_args_is_help=True)
sessions_app = typer.Typer(help="Sign-in sessions: list and revoke.", no_args_is_help=True)
users_app.add_typer(sessions_app, name="sessions")
TenantOption = typer.Option(..., "--tenant", help="Tenant slug or alias")


def _user_row(user: Any) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "display_name": user.display_name, "roles": user.roles,
            "directory_id": user.directory_id, "object_id": user.object_id,
            "status": "disabled" if user.disabled_at else "active", "last_sign_in_at": user.last_sign_in_at,
            "created_at": user.created_at}


@users_app.command("list")
def users_list(tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """List the tenant's staff users (created at their first sign-in)."""

    async def go() -> list[dict[str, Any]]:
        async with one_off_session(read_only=True) as session:
            t = await repository.get(session, tenant)
            use_zone(t.timezone)
            return [_user_row(u) for u in await users_repository.list_users(session, t.id)]

    emit(run_async(go), as_json=as_json, columns=["id", "email", "roles", "status", "last_sign_in_at"],
         title="Users")


@users_app.command("show")
def users_show(user_id: int = typer.Argument(..., min=1, max=MAX_ID, help="User id from 'crm users list'"),
               tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Show one user and their live sessions."""

    async def go() -> dict[str, Any]:
        async with one_off_session(read_only=True) as session:
            t = await repository.get(session, tenant)
            use_zone(t.timezone)
            user = await sessions.get_user(session, t, user_id)
            live = await users_repository.list_sessions(session, t.id, user.id, live_at=clock.now())
            return {**_user_row(user), "live_sessions": [s.id for s in live]}

    data = run_async(go)
    emit(data, as_json=as_json) if as_json else emit([data], as_json=False, columns=list(data), title="User")


def _set_disabled(user_id: int, tenant: str, disabled: bool, as_json: bool) -> None:
    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            t = await repository.get(session, tenant)
            user, revoked = await sessions.set_disabled(session, t, user_id, disabled=disabled, actor=cli_actor())
            return {"id": user.id, "status": "disabled" if user.disabled_at else "active",
                    "sessions_revoked": revoked}

    data = run_async(go)
    if as_json:
        emit(data, as_json=True)
    else:
        extra = f"; {data['sessions_revoked']} live session(s) ended" if disabled else ""
        console.print(f"User {data['id']} is {data['status']}{extra}.", highlight=False)


@users_app.command("disable")
def users_disable(user_id: int = typer.Argument(..., min=1, max=MAX_ID, help="User id"),
                  tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Disable a user: every live session ends at once and sign-in is refused until enabled."""
    _set_disabled(user_id, tenant, True, as_json)


@users_app.command("enable")
def users_enable(user_id: int = typer.Argument(..., min=1, max=MAX_ID, help="User id"),
                 tenant: str = TenantOption, as_json: bool = JsonOption) -> None:
    """Enable a disabled user again."""
    _set_disabled(user_id, tenant, False, as_json)


@sessions_app.command("list")
def sessions_list(tenant: str = TenantOption,
                  user_id: int | None = typer.Option(None, "--user", min=1, max=MAX_ID, help="Only this user's"),
                  everything: bool = typer.Option(False, "--all", help="Also ended sessions"),
                  as_json: bool = JsonOption) -> None:
    """List sign-in sessions (live ones unless --all)."""

    async def go() -> list[dict[str, Any]]:
        async with one_off_session(read_only=True) as session:
            t = await repository.get(session, tenant)
            use_zone(t.timezone)
            rows = await users_repository.list_sessions(session, t.id, user_id,
                                                        live_at=None if everything else clock.now())
            return [{"id": s.id, "user_id": s.user_id, "roles": s.roles, "method": s.method,
                     "created_at": s.created_at, "last_seen_at": s.last_seen_at, "expires_at": s.expires_at,
                     "revoked": s.revoked_reason or ("" if s.revoked_at is None else "yes")} for s in rows]

    emit(run_async(go), as_json=as_json,
         columns=["id", "user_id", "roles", "method", "created_at", "last_seen_at", "expires_at", "revoked"],
         title="Sessions")


@sessions_app.command("revoke")
def sessions_revoke(tenant: str = TenantOption,
                    user_id: int | None = typer.Option(None, "--user", min=1, max=MAX_ID,
                                                       help="Revoke every session of this user"),
                    session_id: int | None = typer.Option(None, "--session", min=1, max=MAX_ID,
                                                          help="Revoke this one session"),
                    as_json: bool = JsonOption) -> None:
    """End sessions at once: their next request gets 401."""
    if (user_id is None) == (session_id is None):
        raise fail("Give exactly one of --user or --session.", code=2)

    async def go() -> int:
        async with one_off_session() as session:
            t = await repository.get(session, tenant)
            return await sessions.revoke(session, t, user_id=user_id, session_id=session_id, actor=cli_actor())

    count = run_async(go)
    if as_json:
        emit({"revoked": count}, as_json=True)
    else:
        console.print(f"{count} live session(s) revoked.", highlight=False)


@users_app.command("login-link")
def login_link(
    tenant: str = TenantOption,
    email: str = typer.Option(..., "--email", help="The person's e-mail address"),
    role: list[str] = typer.Option(..., "--role", help=f"Role for this sign-in, repeatable: {', '.join(ROLES)}"),
    as_json: bool = JsonOption,
) -> None:
    """Break-glass (runbook 2.3): a one-time sign-in link, valid 15 minutes, announced to the security officer."""
    data = run_async(lambda: issue_login_link(tenant, email, role, actor=cli_actor()))
    if as_json:
        emit(data, as_json=True)
        return
    console.print(f"One-time sign-in link for user {data['user_id']} of {data['tenant']} "
                  f"(roles: {', '.join(data['roles'])}), valid until {data['expires_at']}:", highlight=False)
    console.print(data["url"], highlight=False, soft_wrap=True)
    console.print(data["announcement"], highlight=False, soft_wrap=True)


async def issue_login_link(tenant: str, email: str, roles: list[str], *, actor: str,
                           announce: bool = True) -> dict[str, Any]:
    """Create the link (one transaction) and announce it to the tenant's security channel."""
    async with one_off_session() as session:
        t = await repository.get(session, tenant)
        link, raw = await sessions.create_link(session, t, email=email, roles=roles, actor=actor)
    url = f"{get_settings().public_url}/api/v1/auth/link/{raw}"
    announcement = await _announce(t, link, email, actor) if announce else "not announced (development sign-in)"
    return {"tenant": t.slug, "user_id": link.user_id, "roles": link.roles, "url": url,
            "expires_at": format_time(link.expires_at), "announcement": announcement}


async def _announce(tenant: Any, link: Any, email: str, actor: str) -> str:
    """Post the fact (never the link) to the security officer's channel; say so when that is not possible."""
    settings = sessions.sso_settings(tenant)
    target = (settings.break_glass_channel if settings else None) or "#security"
    text = (f":rotating_light: Break-glass sign-in link issued for {email} (user {link.user_id}) in "
            f"{tenant.slug} by {actor}, roles {', '.join(link.roles)}, valid 15 minutes, single use.")
    return await announcements.announce(tenant, target, text, f"login-link:{link.id}")
