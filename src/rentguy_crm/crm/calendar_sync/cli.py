"""`crm integrations m365 sync`: the gig calendar sync run by hand or from cron (ops/cron/m365_sync.cron)."""

from __future__ import annotations

from typing import Any

import typer

from rentguy_crm.crm.calendar_sync.jobs import CalendarNotConfigured, sync_tenant
from rentguy_crm.db import Database
from rentguy_crm.kit import clock
from rentguy_crm.kit.console import JsonOption, emit, run_async
from rentguy_crm.tenants import repository as tenants

app = typer.Typer(help="Vendor integrations per tenant.", no_args_is_help=True)
m365_app = typer.Typer(help="Microsoft 365 calendar sync (Microsoft Graph).", no_args_is_help=True)
app.add_typer(m365_app, name="m365")

REPORT_COLUMNS = ["tenant", "status", "events_created", "events_updated", "events_deleted",
                  "deals_moved_from_outlook", "deals_cancelled_from_outlook", "conflicts_won_by_deal", "pages",
                  "full_round", "message"]


@m365_app.command("sync")
def m365_sync(
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug, e.g. mrdj."),
    full: bool = typer.Option(False, "--full", help="Forget the stored delta link and compare the whole window."),
    as_json: bool = JsonOption,
) -> None:
    """One round of the gig calendar sync: changes made in Outlook come back to the deals, then gigs are created,
    moved or removed in the shared calendar. Prints what changed (deal ids). A tenant without `calendar.enabled`
    says so and exits 0, so the cron line in ops/cron/m365_sync.cron can be installed before it is set up."""

    async def one_round() -> dict[str, Any]:
        db = Database()
        try:
            async with db.sessionmaker() as session:
                row = await tenants.get(session, tenant)  # an unknown tenant is an error, configured or not
                try:
                    report = await sync_tenant(session, row, now=clock.now(), checkpoint=session.commit, full=full)
                except CalendarNotConfigured as exc:
                    return {"tenant": row.slug, "status": "not_configured", "message": exc.detail}
                await session.commit()
                return {**report.as_dict(), "status": "changed" if report.changed else "in_step", "message": ""}
        finally:
            await db.dispose()

    result = run_async(one_round)
    emit(result, as_json=as_json, columns=[c for c in REPORT_COLUMNS if c in result], title="m365 sync")
