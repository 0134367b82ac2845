"""Which channels a tenant gets from its config, and what the config refuses at provisioning."""

from __future__ import annotations

import pytest

from rentguy_crm.config import get_settings
from rentguy_crm.integrations.outbox.mailer import OutboxMailer
from rentguy_crm.integrations.registry import build_channels
from rentguy_crm.integrations.smtp.mailer import SmtpMailer
from rentguy_crm.tenants.config import TenantConfigError, parse_config
from tests.factories import tenant_document


async def test_dev_without_email_config_uses_the_outbox(factory, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "env", "dev")
    channels = await build_channels(await factory.tenant())
    assert isinstance(channels.mailer, OutboxMailer)
    assert channels.mailer.folder == get_settings().var_dir / "outbox" / "mrdj"


async def test_configured_smtp_wins_over_the_outbox(factory, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "env", "dev")
    monkeypatch.setenv("MRDJ_SMTP_PASSWORD", "pw")
    tenant = await factory.tenant(channels={"email": {
        "host": "smtp.example.nl", "username": "crm", "password": "env:MRDJ_SMTP_PASSWORD",
        "from_address": "Mr. DJ <info@mr-dj.nl>"}})
    channels = await build_channels(tenant)
    assert isinstance(channels.mailer, SmtpMailer)
    assert channels.mailer.password is not None and "pw" not in repr(channels.mailer.password)


async def test_outside_dev_an_unconfigured_mailer_is_absent(factory) -> None:
    channels = await build_channels(await factory.tenant())
    assert channels.mailer is None and channels.slack is None


@pytest.mark.parametrize("channels, field", [
    ({"email": {"host": "smtp.example.nl", "password": "hunter2", "from_address": "a@b.nl"}},
     "channels.email.password"),
    ({"slack": {"webhook_url": "https://hooks.slack.com/services/T/B/secret"}}, "channels.slack.webhook_url"),
    ({"whatsapp": {"phone_number_id": "12", "access_token": "env:X"}}, "channels.whatsapp.phone_number_id"),
    ({"fax": {}}, "channels.fax"),
])
def test_provisioning_refuses_literal_secrets_and_unknown_channels(channels, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TenantConfigError) as err:
        parse_config(tenant_document(channels=channels))
    assert field in str(err.value)
    assert "hunter2" not in str(err.value)
