"""`crm tenants …`: list and show tenants. `provision` sets up a whole working tenant (workflows and templates
included), so it is composed above the domains in `rentguy_crm/provisioning.py`."""

from __future__ import annotations

from typing import Any

import typer

from rentguy_crm.db import one_off_session
from rentguy_crm.kit.console import JsonOption, console, emit, run_async, use_zone
from rentguy_crm.tenants import repository
from rentguy_crm.tenants.scope import AllTenants

app = typer.Typer(help="Provision and inspect tenants.", no_args_is_help=True)


def _row(tenant: Any) -> dict[str, Any]:
    return {"id": tenant.id, "slug": tenant.slug, "name": tenant.name, "aliases": tenant.aliases,
            "timezone": tenant.timezone, "locale": tenant.locale, "created_at": tenant.created_at}


@app.command("list")
def list_tenants(as_json: bool = JsonOption) -> None:
    """List provisioned tenants."""

    async def go() -> list[dict[str, Any]]:
        async with one_off_session() as session:
            return [_row(t) for t in await repository.list_all(session, AllTenants())]

    emit(run_async(go), as_json=as_json, columns=["id", "slug", "name", "aliases", "timezone", "locale"],
         title="Tenants")


@app.command("show")
def show(slug: str = typer.Argument(..., help="Tenant slug or alias"), as_json: bool = JsonOption) -> None:
    """Show one tenant with its applied configuration."""

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            tenant = await repository.get(session, slug)
            use_zone(tenant.timezone)
            return {**_row(tenant), "config": tenant.config}

    data = run_async(go)
    if as_json:
        emit(data, as_json=True)
        return
    config = data.pop("config")
    emit(data, as_json=False, title=f"Tenant {data['slug']}")
    console.print("pipelines: " + ", ".join(
        f"{p['key']} ({len(p['stages'])} stages)" for p in config.get("pipelines", [])))
    console.print("contacts: " + ", ".join(f"{c['role']}={c['email']}" for c in config.get("contacts", [])))
