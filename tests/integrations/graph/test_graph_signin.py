"""App-only sign-in through MSAL against the Entra fake, and the command and scheduled run around the sync."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from rentguy_crm.automation.engine import builtin, schedules
from rentguy_crm.cli import app as cli
from rentguy_crm.config import Settings
from rentguy_crm.crm.calendar_sync.jobs import sync_all_tenants
from rentguy_crm.db import Database
from rentguy_crm.integrations import vault
from rentguy_crm.integrations.graph.client import GraphCalendar, GraphError
from rentguy_crm.kit import secrets
from rentguy_crm.tenants.sections.calendar import CalendarSettings
from tests.factories import Factory
from tests.integrations.graph.fake import M365
from tests.integrations.vault.fake import VaultFake

WINDOW = {"start": "2026-04-01T00:00:00Z", "end": "2028-04-01T00:00:00Z"}


@pytest.fixture
def vault_fake() -> Iterator[VaultFake]:
    server = VaultFake()
    server.start()
    yield server
    server.stop()
    secrets.register_backend("vault", None)


async def test_a_secret_rotated_in_vault_is_read_again_after_invalid_client(m365: M365,
                                                                           vault_fake: VaultFake) -> None:
    vault_fake.seed("crm/mrdj/m365", {"client_secret": "s3cret-one"})
    vault.install(Settings(vault_addr=vault_fake.url, vault_token=SecretStr("root-token"), vault_cache_seconds=3600))
    settings = CalendarSettings.model_validate(
        m365.calendar_section(client_secret="vault:crm/mrdj/m365#client_secret"))
    async with GraphCalendar(settings, time_zone="Europe/Amsterdam") as calendar:
        await calendar.delta_page(None, **WINDOW)
    # Rotated in the portal and in Vault; this process still holds the old value in its cache.
    m365.entra.client_secret = "s3cret-two"
    vault_fake.seed("crm/mrdj/m365", {"client_secret": "s3cret-two"})
    async with GraphCalendar(settings, time_zone="Europe/Amsterdam") as calendar:
        page = await calendar.delta_page(None, **WINDOW)
    assert page.events == []
    assert vault_fake.reads("crm/mrdj/m365") == 2
    assert m365.entra.token_requests() == 3  # old secret, refused old secret, new secret


async def test_a_refused_secret_is_a_clear_error_naming_the_reference(m365: M365) -> None:
    m365.entra.client_secret = "something-else"
    settings = CalendarSettings.model_validate(m365.calendar_section())
    async with GraphCalendar(settings, time_zone="Europe/Amsterdam") as calendar:
        with pytest.raises(GraphError, match="invalid_client") as caught:
            await calendar.delta_page(None, **WINDOW)
    assert "env:CRM_TEST_M365_CLIENT_SECRET" in str(caught.value)
    assert "s3cret-one" not in str(caught.value)


async def test_graph_down_is_a_clear_error(m365: M365) -> None:
    settings = CalendarSettings.model_validate(m365.calendar_section(graph_url="http://127.0.0.1:9/v1.0"))
    async with GraphCalendar(settings, time_zone="Europe/Amsterdam") as calendar:
        with pytest.raises(GraphError, match="unreachable"):
            await calendar.delta_page(None, **WINDOW)


async def test_the_command_says_not_configured_while_the_calendar_is_off(factory: Factory) -> None:
    await factory.tenant("mrdj")
    result = await asyncio.to_thread(CliRunner().invoke, cli,
                                     ["integrations", "m365", "sync", "--tenant", "mrdj", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "not_configured" and "calendar.enabled" in body["message"]


async def test_the_command_prints_what_changed(factory: Factory, m365: M365) -> None:
    tenant = await factory.tenant("mrdj", calendar=m365.calendar_section())
    gig = await factory.deal(tenant, stage_key="booked", event_date=dt.date.today() + dt.timedelta(days=40))
    result = await asyncio.to_thread(CliRunner().invoke, cli,
                                     ["integrations", "m365", "sync", "--tenant", "mrdj", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "changed" and body["events_created"] == [gig.id]
    again = await asyncio.to_thread(CliRunner().invoke, cli,
                                    ["integrations", "m365", "sync", "--tenant", "mrdj", "--json"])
    assert json.loads(again.stdout)["status"] == "in_step"
    assert len(m365.graph.events) == 1


def test_the_workers_run_the_sync_every_five_minutes() -> None:
    builtin.install()
    job = schedules.jobs()["m365.calendar_sync"]
    assert job.cron == "*/5 * * * *"


async def test_the_scheduled_run_syncs_every_enabled_tenant(db: Database, factory: Factory, m365: M365) -> None:
    tenant = await factory.tenant("mrdj", calendar=m365.calendar_section())
    await factory.tenant("other")
    await factory.deal(tenant, stage_key="booked", event_date=dt.date.today() + dt.timedelta(days=40))
    async with db.session() as session:
        result = await sync_all_tenants(session, dt.datetime.now(dt.UTC))
    assert set(result) == {"mrdj"} and result["mrdj"]["events_created"] == 1
    assert len(m365.graph.events) == 1
