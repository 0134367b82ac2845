"""`crm release-notes`: configuration changes from the audit log as Markdown, grouped by kind, without personal
data, for one tenant and one period (tenant's days)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from typer.testing import CliRunner

from rentguy_crm.audit import service as audit
from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.auth import service as keys
from rentguy_crm.automation.runs import service as automation
from rentguy_crm.automation.workflows import service as workflows_service
from rentguy_crm.cli import app as cli
from rentguy_crm.kit import clock
from rentguy_crm.ratelimit import service as ratelimit

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


async def changes(db: Any, tenant: Any) -> None:
    """One change of each kind through the services that make them (SSO has no service yet: its audit row)."""
    async with db.session() as session:
        await workflows_service.sync(session, tenant.slug)
        key, _raw = await keys.create_key(session, tenant, name="Bart (operations)", roles=["operations"],
                                          actor="bart@mr-dj.nl")
        await keys.revoke_key(session, key.id, actor="bart@mr-dj.nl")
        await ratelimit.set_profile(session, tenant, "relaxed", actor="Bart", duration=dt.timedelta(hours=2))
        await automation.pause_workflow(session, tenant, "lead_intake", actor="Bart",
                                        reason="Bart ziet fouten bij klant Jansen", now=clock.now())
        await automation.resume_workflow(session, tenant, "lead_intake", actor="Bart")
        await audit.record(session, actor="sofie@rentguy.nl", action="sso.secret_rotated", entity_type="sso",
                           entity_id="mrdj", tenant_id=tenant.id)
        await audit.record(session, actor="Bart", action="template.published", entity_type="template_version",
                           entity_id=7, tenant_id=tenant.id, before={"live_version": 3},
                           after={"key": "lead-welcome", "channel": "email", "language": "nl", "live_version": 4})


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["release-notes", *args])


def today() -> str:
    return clock.now().astimezone(AMSTERDAM).date().isoformat()


async def test_release_notes_group_every_kind_of_change_without_personal_data(db: Any, factory: Any) -> None:
    tenant = await factory.tenant("mrdj")
    await changes(db, tenant)
    result = await asyncio.to_thread(invoke, "--tenant", "mrdj", "--since", today())
    assert result.exit_code == 0, result.output
    notes = result.stdout
    assert notes.startswith("# Release notes")
    headings = [line for line in notes.splitlines() if line.startswith("## ")]
    assert headings == ["## SSO", "## Workflows", "## Templates", "## Rate-limit profielen", "## API-sleutels"]
    assert "SSO client secret vervangen" in notes
    assert "workflow `lead_intake` gepauzeerd" in notes and "workflow `lead_intake` hervat" in notes
    assert "template `lead-welcome` (email, nl) gepubliceerd: versie 4 (was 3)" in notes
    assert "rate-limit profiel `relaxed` gezet tot" in notes
    assert "workflow `lead_intake` toegevoegd (versie 1)" in notes
    assert "aangemaakt (rollen: operations)" in notes and "ingetrokken" in notes
    for personal in ("Bart", "bart@", "sofie", "Jansen"):
        assert personal not in notes


async def test_only_the_tenants_changes_of_the_period_are_written(db: Any, factory: Any, tmp_path: Path) -> None:
    tenant = await factory.tenant("mrdj")
    other = await factory.tenant("other")
    async with db.session() as session:
        await ratelimit.set_profile(session, other, "strict", actor="x")
        early = await audit.record(session, actor="x", action="sso.secret_rotated", entity_type="sso",
                                   tenant_id=tenant.id)
        inside = await audit.record(session, actor="x", action="apikey.revoked", entity_type="api_key",
                                    entity_id=41, tenant_id=tenant.id)
        # 23:30 in Amsterdam on 2 March is 22:30 UTC: inside the period that ends on 2 March.
        await session.execute(update(AuditEntry).where(AuditEntry.id == early.id)
                              .values(at=dt.datetime(2025, 2, 28, 22, 59, tzinfo=dt.UTC)))
        await session.execute(update(AuditEntry).where(AuditEntry.id == inside.id)
                              .values(at=dt.datetime(2025, 3, 2, 22, 30, tzinfo=dt.UTC)))
    target = tmp_path / "notes.md"
    result = await asyncio.to_thread(invoke, "--tenant", "mrdj", "--since", "2025-03-01", "--until", "2025-03-02",
                                     "--output", str(target))
    assert result.exit_code == 0, result.output
    notes = target.read_text()
    assert "- 2025-03-02 23:30 — API-sleutel #41 ingetrokken" in notes
    assert "SSO" not in notes  # 23:59 on 28 February in Amsterdam
    assert "strict" not in notes  # the other tenant's switch


async def test_a_period_without_changes_says_so(db: Any, factory: Any) -> None:
    await factory.tenant("mrdj")
    result = await asyncio.to_thread(invoke, "--tenant", "mrdj", "--since", "2020-01-01", "--until", "2020-01-31")
    assert result.exit_code == 0, result.output
    assert "Geen configuratiewijzigingen in deze periode." in result.stdout


async def test_bad_dates_and_unknown_tenants_fail_with_one_line(db: Any, factory: Any) -> None:
    await factory.tenant("mrdj")
    for args, message in [(("--tenant", "mrdj", "--since", "1 maart"), "--since: give a date as YYYY-MM-DD"),
                          (("--tenant", "mrdj", "--since", "2025-03-02", "--until", "2025-03-01"),
                           "--until must not be before --since"),
                          (("--tenant", "nobody", "--since", "2025-03-01"), "No tenant 'nobody'")]:
        result = await asyncio.to_thread(invoke, *args)
        assert result.exit_code != 0
        assert message in result.output
        assert "Traceback" not in result.output
