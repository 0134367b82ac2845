"""`crm tenants …`: provision, list and show tenants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rentguy_crm.db import one_off_session
from rentguy_crm.kit.console import JsonOption, console, emit, fail, run_async, use_zone
from rentguy_crm.tenants import repository, service
from rentguy_crm.tenants.config import TenantConfigError, load_config

app = typer.Typer(help="Provision and inspect tenants.", no_args_is_help=True)


@app.command("provision")
def provision(
    config_file: Path = typer.Argument(..., help="Tenant config, e.g. configs/tenants/mrdj.json"),
    as_json: bool = JsonOption,
) -> None:
    """Create or update a tenant from its config file. Safe to run again: it never duplicates."""
    try:
        config = load_config(config_file)
    except TenantConfigError as exc:
        raise fail(str(exc)) from None

    async def go() -> service.ProvisionReport:
        async with one_off_session() as session:
            return await service.provision(session, config)

    report = run_async(go)
    if as_json:
        emit(report.as_dict(), as_json=True)
        return
    for item in report.created:
        console.print(f"[green]created[/green]  {item}")
    for item in report.updated:
        console.print(f"[yellow]updated[/yellow]  {item}")
    verdict = "changed" if report.changed else "already up to date"
    console.print(f"tenant {report.tenant}: {len(report.created)} created, {len(report.updated)} updated, "
                  f"{verdict}")


def _row(tenant: Any) -> dict[str, Any]:
    return {"id": tenant.id, "slug": tenant.slug, "name": tenant.name, "aliases": tenant.aliases,
            "timezone": tenant.timezone, "locale": tenant.locale, "created_at": tenant.created_at}


@app.command("list")
def list_tenants(as_json: bool = JsonOption) -> None:
    """List provisioned tenants."""

    async def go() -> list[dict[str, Any]]:
        async with one_off_session() as session:
            return [_row(t) for t in await repository.list_all(session)]

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
