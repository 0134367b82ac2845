"""`crm release-notes`: the tenant's configuration changes from the audit log as Markdown (runbook 2.3 step 4)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from rentguy_crm.audit.release_notes import release_notes
from rentguy_crm.db import one_off_session
from rentguy_crm.kit import clock
from rentguy_crm.kit.console import console, fail, run_async
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import TenantScope


def _day(option: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: give a date as YYYY-MM-DD, e.g. 2025-03-01 (got {value!r})", code=2) from None


def release_notes_command(
    tenant: str = typer.Option(..., "--tenant", help="Tenant slug or alias, e.g. mrdj."),
    since: str = typer.Option(..., "--since", help="First day (YYYY-MM-DD, in the tenant's time zone)."),
    until: str = typer.Option(None, "--until", help="Last day, included (YYYY-MM-DD); default today."),
    output: Path = typer.Option(None, "--output", help="Write the Markdown to this file instead of stdout.",
                                dir_okay=False, writable=True),
) -> None:
    """Release notes of a tenant's configuration changes (SSO secret, workflows synced/paused/resumed, templates
    published, rate-limit profiles, API keys) from the audit log, as Markdown grouped by kind. No personal data."""
    first = _day("--since", since)
    last = _day("--until", until) if until else None

    async def work() -> str:
        async with one_off_session(read_only=True) as session:
            row = await tenants.get(session, tenant)
            end = last or clock.now().astimezone(ZoneInfo(row.timezone)).date()
            if end < first:
                raise fail("--until must not be before --since", code=2)
            return await release_notes(session, TenantScope(row.id), tenant_name=row.name, tenant_slug=row.slug,
                                       timezone=row.timezone, since=first, until=end)

    text = run_async(work)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"--output: cannot write {output} ({exc.strerror})") from None
    console.print(f"release notes written to {output}", markup=False, highlight=False)
