"""`crm apikeys …`: create (shown once), list and revoke API keys."""

from __future__ import annotations

from typing import Any

import typer

from rentguy_crm.auth import service
from rentguy_crm.auth.permissions import ROLES
from rentguy_crm.db import one_off_session
from rentguy_crm.kit.console import JsonOption, console, emit, format_time, run_async, use_zone
from rentguy_crm.kit.inputs import MAX_ID
from rentguy_crm.tenants import repository
from rentguy_crm.tenants.scope import AllTenants, TenantScope

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


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
                key = await service.revoke_key(session, key_id, actor=_actor())
            return {"id": key.id, "name": key.name, "revoked_at": key.revoked_at, "already_revoked": already}

    data = run_async(go)
    if as_json:
        emit(data, as_json=True)
    elif data["already_revoked"]:
        console.print(f"API key {data['id']} ({data['name']}) was already revoked at "
                      f"{format_time(data['revoked_at'])}; nothing changed.", highlight=False)
    else:
        console.print(f"Revoked API key {data['id']} ({data['name']}).", highlight=False)
