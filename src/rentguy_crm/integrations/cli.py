"""`crm integrations`: per-tenant vendor integrations run by hand or from cron."""

from __future__ import annotations

import typer

from rentguy_crm.db import one_off_session
from rentguy_crm.kit.console import JsonOption, emit, run_async
from rentguy_crm.tenants import repository as tenants

app = typer.Typer(help="Vendor integrations per tenant.", no_args_is_help=True)
m365_app = typer.Typer(help="Microsoft 365 calendar sync (Microsoft Graph).", no_args_is_help=True)
app.add_typer(m365_app, name="m365")


@m365_app.command("sync")
def m365_sync(
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug, e.g. mrdj."),
    as_json: bool = JsonOption,
) -> None:
    """Sync booked events to the tenant's M365 calendar. Not configured yet: says so and exits 0, so the
    cron line in ops/cron/m365_sync.cron can already be installed."""

    async def known_tenant() -> str:
        async with one_off_session(read_only=True) as session:
            return (await tenants.get(session, tenant)).slug

    slug = run_async(known_tenant)  # an unknown tenant is an error, configured or not
    emit({"tenant": slug, "status": "not_configured",
          "message": "The M365 calendar sync is not configured yet for this suite; nothing was synced."},
         as_json=as_json, columns=["tenant", "status", "message"], title="m365 sync")
