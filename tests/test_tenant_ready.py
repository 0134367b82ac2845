"""`crm tenants provision` leaves a working tenant: a fresh tenant's first lead is welcomed, announced and given a
task, and provisioning again changes nothing and never overwrites templates the tenant edited."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.cli import app as cli
from rentguy_crm.crm.models import Activity
from rentguy_crm.templates import repository as templates
from rentguy_crm.templates import service as template_service
from rentguy_crm.templates.models import Template, TemplateVersion
from rentguy_crm.templates.schemas import TemplateUpdate
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope
from tests.factories import tenant_document
from tests.templates_support import run_worker
from tests.vendor_fakes import HttpFake, SmtpFake

SLUG = "feestband"


@pytest.fixture
def smtp() -> Any:
    fake = SmtpFake()
    fake.controller.start()
    yield fake
    fake.controller.stop()


def fresh_config(tmp_path: Path, smtp_port: int) -> Path:
    """A copy of configs/tenants/mrdj.json for a new tenant, with its mail and Slack going to the fakes."""
    doc = tenant_document(SLUG)
    doc["intake"]["allowed_origins"] = ["https://feestband.example"]
    doc["channels"] = {
        "email": {"provider": "smtp", "host": "127.0.0.1", "port": smtp_port, "security": "none",
                  "from_address": "Feestband <info@feestband.example>"},
        "slack": {"webhook_url": "env:FEESTBAND_SLACK_HOOK"},
    }
    path = tmp_path / f"{SLUG}.json"
    path.write_text(json.dumps(doc))
    return path


def provision(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["tenants", "provision", *args])
    assert result.exit_code == 0, result.output
    return result


async def counts(db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return tuple([int(await session.scalar(select(func.count()).select_from(m)) or 0)  # type: ignore[return-value]
                      for m in (Template, TemplateVersion, AutomationRun)])


async def test_a_freshly_provisioned_tenant_runs_lead_intake_to_the_customers_inbox(
        client, db, smtp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with HttpFake() as slack:
        monkeypatch.setenv("FEESTBAND_SLACK_HOOK", slack.url("/services/T/B/feestband"))
        await asyncio.to_thread(provision, str(fresh_config(tmp_path, smtp.port)))
        posted = await client.post("/api/v1/public/leads", json={
            "tenant": SLUG, "first_name": "Anna", "last_name": "de Vries", "email": "anna@example.nl",
            "event_type": "bruiloft"})
        assert posted.status_code == 201, posted.text
        outcomes = await run_worker(db)
    assert outcomes == ["succeeded"]
    async with db.session() as session:
        run = (await session.scalars(select(AutomationRun))).one()
        task = (await session.scalars(select(Activity))).one()
    assert (run.workflow_key, run.status) == ("lead_intake", "succeeded")
    [mail] = smtp.messages
    assert mail["To"] == "anna@example.nl"
    assert mail["Subject"] == "Bedankt voor je aanvraag voor jullie bruiloft, Anna!"
    assert slack.requests[0].json()["text"].startswith(":tada: Nieuwe lead")
    assert task.team == "wedding_specialists"


async def test_provisioning_again_changes_nothing_and_says_so(db, smtp, tmp_path: Path) -> None:
    config = str(fresh_config(tmp_path, smtp.port))
    first = json.loads((await asyncio.to_thread(provision, config, "--json")).stdout)
    assert first["changed"] and len(first["templates"]["changed"]) > 0
    before = await counts(db)
    second = await asyncio.to_thread(provision, config)
    assert "already up to date, nothing changed" in " ".join(second.stdout.split())
    again = json.loads((await asyncio.to_thread(provision, config, "--json")).stdout)
    assert (again["changed"], again["templates"]["changed"], again["workflows"]["created"]) == (False, [], [])
    assert await counts(db) == before


async def test_provisioning_never_overwrites_a_template_the_tenant_edited(db, smtp, tmp_path: Path) -> None:
    config = str(fresh_config(tmp_path, smtp.port))
    await asyncio.to_thread(provision, config)
    async with db.session() as session:
        tenant = (await session.scalars(select(Tenant).where(Tenant.slug == SLUG))).one()
        welcome = await templates.find_template(session, TenantScope(tenant.id), "lead-welcome", "email", "nl")
        assert welcome is not None
        live = await templates.live_version(session, TenantScope(tenant.id), welcome.id)
        assert live is not None
        _template, draft = await template_service.edit(
            session, tenant, live.id, TemplateUpdate(subject="Welkom bij de Feestband!"), "bart")
        await template_service.publish(session, tenant, draft.id, "bart")
    result = await asyncio.to_thread(provision, config, "--json")
    body = json.loads(result.stdout)
    assert "lead-welcome (email, nl)" in body["templates"]["kept"] and not body["changed"]
    async with db.session() as session:
        live = await templates.live_version(session, TenantScope(tenant.id), welcome.id)
        assert live is not None and live.subject == "Welkom bij de Feestband!"


async def test_no_templates_leaves_the_templates_out(db, smtp, tmp_path: Path) -> None:
    result = await asyncio.to_thread(provision, str(fresh_config(tmp_path, smtp.port)), "--no-templates")
    assert "templates left out" in " ".join(result.stdout.split())
    assert (await counts(db))[:2] == (0, 0)
