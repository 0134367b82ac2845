"""`crm secrets check` and `crm secrets put` against the Vault fake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.cli import app as cli
from rentguy_crm.config import reset_settings_cache
from rentguy_crm.db import Database
from rentguy_crm.kit import secrets
from rentguy_crm.tenants.config import parse_config
from tests.factories import Factory, tenant_document
from tests.integrations.vault.fake import VaultFake

CHANNELS = {"slack": {"webhook_url": "vault:crm/mrdj/slack#sales", "default_target": "#mrdj-sales",
                      "targets": {"#mrdj-ops": "vault:crm/mrdj/slack#ops"}}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultFake]:
    server = VaultFake()
    server.seed("crm/mrdj/slack", {"sales": "https://hooks.example/sales-value"})
    server.start()
    monkeypatch.setenv("CRM_VAULT_ADDR", server.url)
    monkeypatch.setenv("CRM_VAULT_TOKEN", "root-token")
    monkeypatch.setenv("CRM_MRDJ_TYPEFORM_SECRET", "typeform-value")
    reset_settings_cache()
    yield server
    server.stop()
    secrets.register_backend("vault", None)
    monkeypatch.undo()
    reset_settings_cache()


def test_references_in_walks_nested_sections_dicts_and_optionals() -> None:
    config = parse_config(tenant_document("mrdj", channels=CHANNELS))
    found = dict(secrets.references_in(config))
    assert found["channels.slack.webhook_url"] == "vault:crm/mrdj/slack#sales"
    assert found["channels.slack.targets.#mrdj-ops"] == "vault:crm/mrdj/slack#ops"
    assert found["intake.typeform.secret"] == "env:CRM_MRDJ_TYPEFORM_SECRET"
    assert found["payments.mollie.api_key"] == "env:CRM_MRDJ_MOLLIE_API_KEY"
    assert "slug" not in found and "channels.slack.default_target" not in found


async def test_check_lists_every_reference_and_fails_when_one_does_not_resolve(
        fake: VaultFake, factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    await factory.tenant("mrdj", channels=CHANNELS)
    monkeypatch.delenv("CRM_MRDJ_MOLLIE_API_KEY", raising=False)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["secrets", "check", "--tenant", "mrdj", "--json"])
    assert result.exit_code == 1, result.output
    rows = {r["field"]: r for r in json.loads(result.stdout)}
    assert rows["channels.slack.webhook_url"]["status"] == "ok"
    assert rows["intake.typeform.secret"]["status"] == "ok"
    assert rows["channels.slack.targets.#mrdj-ops"]["status"] == "failed"
    assert "no non-empty field 'ops'" in rows["channels.slack.targets.#mrdj-ops"]["reason"]
    assert rows["payments.mollie.api_key"]["status"] == "failed"
    assert "sales-value" not in result.output and "typeform-value" not in result.output


async def test_check_exits_zero_when_everything_resolves(fake: VaultFake, factory: Factory,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    fake.seed("crm/mrdj/slack", {"sales": "a-value", "ops": "b-value"})
    fake.seed("crm/mrdj/sso", {"client_secret": "c-value"})
    await factory.tenant("mrdj", channels=CHANNELS, payments={}, monitoring={}, calendar={})
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["secrets", "check", "--tenant", "mrdj"])
    assert result.exit_code == 0, result.output
    assert "a-value" not in result.output


async def test_put_reads_the_value_from_stdin_never_prints_it_and_is_audited(fake: VaultFake, factory: Factory,
                                                                            db: Database) -> None:
    tenant = await factory.tenant("mrdj")
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["secrets", "put", "vault:crm/mrdj/azure#client_secret", "--tenant", "mrdj",
                                  "--by", "sofie", "--json"], input="rotated-in-portal\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == 1
    assert fake.data("crm/mrdj/azure") == {"client_secret": "rotated-in-portal"}
    assert "rotated-in-portal" not in result.output
    async with db.session(read_only=True) as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "secret.written"))
    assert entry is not None and entry.tenant_id == tenant.id and entry.actor == "sofie"
    assert entry.entity_id == "vault:crm/mrdj/azure#client_secret" and "rotated" not in str(entry.after)


def test_put_refuses_an_empty_value(fake: VaultFake) -> None:
    result = CliRunner().invoke(cli, ["secrets", "put", "vault:crm/mrdj/azure#client_secret"], input="\n")
    assert result.exit_code == 2
    assert "nothing was written" in result.output
    assert fake.count("POST") == 0


def test_put_when_vault_is_sealed_says_so(fake: VaultFake) -> None:
    fake.sealed = True
    result = CliRunner().invoke(cli, ["secrets", "put", "vault:crm/mrdj/azure#client_secret"], input="x\n")
    assert result.exit_code == 1
    assert "sealed" in result.output
