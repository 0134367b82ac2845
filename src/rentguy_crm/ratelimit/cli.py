"""`crm ratelimit`: show and switch a tenant's rate-limit profile (runbook 2.1 step 2)."""

from __future__ import annotations

from typing import Any

import typer

from rentguy_crm.db import one_off_session
from rentguy_crm.kit.console import JsonOption, cli_actor, emit, fail, run_async, use_zone
from rentguy_crm.kit.durations import parse_duration
from rentguy_crm.ratelimit import service
from rentguy_crm.ratelimit.profiles import PROFILES, limits_for
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.config import TenantConfig
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants

app = typer.Typer(help="Rate-limit profiles per tenant: strict, standard, relaxed.", no_args_is_help=True)

COLUMNS = ["tenant", "profile", "default_profile", "until", "set_by", "per_ip", "per_tenant"]


def _row(tenant: Tenant, current: service.EffectiveProfile) -> dict[str, Any]:
    limits = limits_for(current.profile, TenantConfig.model_validate(tenant.config).rate_limit)
    return current.as_dict() | limits.describe()


@app.command("show")
def show(
    tenant: str = typer.Option(None, "--tenant", help="Only this tenant (slug or alias)."),
    as_json: bool = JsonOption,
) -> None:
    """Show the profile in force per tenant, until when, and its limits."""

    async def work() -> list[dict[str, Any]]:
        async with one_off_session() as session:
            await service.revert_expired(session)  # record any switch whose time is up
            rows = [await tenants.get(session, tenant)] if tenant else await tenants.list_all(session, AllTenants())
            use_zone(rows[0].timezone if tenant else None)
            return [_row(t, await service.current(session, t)) for t in rows]

    emit(run_async(work), as_json=as_json, columns=COLUMNS, title="rate-limit profiles")


@app.command("set")
def set_profile(
    profile: str = typer.Argument(..., help=f"One of: {', '.join(PROFILES)}."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug or alias, e.g. mrdj."),
    duration: str = typer.Option(None, "--for", help="Switch back by itself after this long (e.g. 2h, 90m). "
                                                     "Without it the switch stays until set again."),
    by: str = typer.Option(None, "--by", help="Who is switching (for the audit log); default cli:<user>."),
    as_json: bool = JsonOption,
) -> None:
    """Switch a tenant's profile now, permanently or --for a while. Audited; API processes follow within seconds."""

    try:
        delta = parse_duration(duration, unit_required=True) if duration else None
    except ValueError as exc:
        raise fail(f"--for: {exc}", code=2) from None

    async def work() -> dict[str, Any]:
        async with one_off_session() as session:
            await service.revert_expired(session)
            row = await tenants.get(session, tenant)
            use_zone(row.timezone)
            current = await service.set_profile(session, row, profile, actor=cli_actor(by), duration=delta)
            return _row(row, current)

    emit(run_async(work), as_json=as_json, columns=COLUMNS, title="rate-limit profile switched")


@app.command("revert-expired")
def revert_expired(as_json: bool = JsonOption) -> None:
    """Record the return of every temporary switch whose time is up (also happens by itself when read)."""

    async def work() -> list[dict[str, Any]]:
        async with one_off_session() as session:
            return [r.as_dict() for r in await service.revert_expired(session)]

    emit(run_async(work), as_json=as_json, columns=["tenant", "profile", "set_by", "set_at"], title="reverted")
