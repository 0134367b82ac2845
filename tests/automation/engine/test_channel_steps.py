"""Channel steps end to end: the tenant's live template rendered for the subject and sent once per idempotency
key, however often the run engine retries the step."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes
from typing import Any

import pytest
from sqlalchemy import func, select

from rentguy_crm.automation.engine import channel_steps
from rentguy_crm.automation.engine.step_registry import StepContext
from rentguy_crm.automation.workflows.definitions import HttpWebhook, Notify, SendEmail, SendWhatsapp
from rentguy_crm.config import get_settings
from rentguy_crm.integrations.base import ChannelNotConfigured, PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.integrations.channels import Channels
from rentguy_crm.integrations.registry import UnavailableChannel, build_channels
from rentguy_crm.templates import cloning
from rentguy_crm.templates.models import Delivery
from tests.vendor_fakes import HttpFake, Reply, SmtpFake, WhatsappFake

KEY = "run:41:step:2"


@pytest.fixture
def smtp() -> Any:
    fake = SmtpFake()
    fake.controller.start()
    yield fake
    fake.controller.stop()


def channels_doc(smtp_port: int | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = dict(extra)
    if smtp_port:
        doc["email"] = {"provider": "smtp", "host": "127.0.0.1", "port": smtp_port, "security": "none",
                        "from_address": "Mr. DJ <info@mr-dj.nl>", "reply_to": "boekingen@mr-dj.nl",
                        "unsubscribe_url": "https://mr-dj.nl/afmelden?c={contact_id}"}
    return doc


async def tenant_with_library(db, factory, **channels: Any):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj", channels=channels)
    async with db.session() as session:
        await cloning.clone(session, "mrdj", publish=True, actor="test")
    return tenant


def subject(**contact: Any) -> dict[str, Any]:
    person = {"id": 5, "first_name": "Anna", "last_name": "de Vries", "email": "anna@example.nl",
              "phone": "+31612345678", "marketing_opt_in": False, **contact}
    return {"contact": person,
            "lead": {"id": 12, "event_type": "bruiloft", "event_date": "2025-06-14", "city": "Utrecht",
                     "priority": "high", "team": "wedding_specialists"},
            "deal": {"id": 3, "title": "Bruiloft Anna & Tom", "value": "1450.00", "currency": "EUR",
                     "event_date": "2025-06-14"}}


async def run_step(db, tenant, step: Any, variables: dict[str, Any], key: str = KEY) -> Any:  # type: ignore[no-untyped-def]
    # The real channel handler even when a test plugin registered its own `notify` for the worker tests.
    handler = getattr(channel_steps, step.type)
    channels = await build_channels(tenant)
    async with db.session() as session:
        ctx = StepContext(session=session, tenant=tenant, run_id=41, step_number=2, idempotency_key=key,
                          variables=variables, channels=channels, now=dt.datetime.now(dt.UTC))
        return await handler(ctx, step)


async def deliveries(db) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(Delivery)) or 0


async def test_welcome_mail_uses_the_vertical_variant_in_dutch_with_brand_tokens(db, factory, smtp) -> None:
    tenant = await tenant_with_library(db, factory, **channels_doc(smtp.port))
    result = await run_step(db, tenant, SendEmail(type="send_email", template="lead-welcome"), subject())
    [sent] = smtp.messages
    assert sent["Subject"] == "Bedankt voor je aanvraag voor jullie bruiloft, Anna!"
    html = next(p for p in sent.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert "#1A1A2E" in html and "https://mr-dj.nl/static/logo.svg" in html
    assert result.output["message_id"] == sent["Message-ID"]
    assert result.output["template"] == "lead-welcome"


async def test_the_same_email_step_retried_sends_once(db, factory, smtp) -> None:
    tenant = await tenant_with_library(db, factory, **channels_doc(smtp.port))
    step = SendEmail(type="send_email", template="lead-welcome")
    first = await run_step(db, tenant, step, subject())
    again = await run_step(db, tenant, step, subject())
    assert list(smtp.deliveries.values()) == [1]
    assert again.output["message_id"] == first.output["message_id"] and again.output["deduplicated"]


async def test_a_failed_send_is_retried_and_then_delivered_once(db, factory, smtp) -> None:
    tenant = await tenant_with_library(db, factory, **channels_doc(smtp.port))
    step = SendEmail(type="send_email", template="proposal-reminder")
    smtp.replies.append("451 4.3.0 Try again later")
    with pytest.raises(RetryableDeliveryError):
        await run_step(db, tenant, step, subject())
    assert await deliveries(db) == 0
    await run_step(db, tenant, step, subject())
    await run_step(db, tenant, step, subject())
    assert list(smtp.deliveries.values()) == [1]


async def test_marketing_mail_skips_contacts_without_opt_in(db, factory, smtp) -> None:
    tenant = await tenant_with_library(db, factory, **channels_doc(smtp.port))
    step = SendEmail(type="send_email", template="post-event-survey", marketing=True)
    result = await run_step(db, tenant, step, subject(marketing_opt_in=False))
    assert result.output == {"skipped": "no marketing consent"} and smtp.messages == []
    await run_step(db, tenant, step, subject(marketing_opt_in=True), key="run:42:step:2")
    [sent] = smtp.messages
    assert sent["List-Unsubscribe"].startswith("<https://mr-dj.nl/afmelden?c=5>")


async def test_english_fallback_when_no_dutch_version_is_live(db, factory, smtp) -> None:
    tenant = await factory.tenant("mrdj", channels=channels_doc(smtp.port))
    async with db.session() as session:
        await cloning.clone(session, "mrdj", only=["invoice-reminder"], publish=True, actor="test")
        from rentguy_crm.templates import repository, service
        from rentguy_crm.tenants.scope import TenantScope

        nl = await repository.find_template(session, TenantScope(tenant.id), "invoice-reminder", "email", "nl")
        live = await repository.live_version(session, TenantScope(tenant.id), nl.id)
        await service.archive(session, tenant, live.id, "test")
    await run_step(db, tenant, SendEmail(type="send_email", template="invoice-reminder"), subject())
    assert smtp.messages[0]["Subject"] == "Reminder: invoice for Bruiloft Anna & Tom"


async def test_missing_template_fails_the_step_permanently(db, factory, smtp) -> None:
    tenant = await factory.tenant("mrdj", channels=channels_doc(smtp.port))
    with pytest.raises(PermanentDeliveryError, match="no live version"):
        await run_step(db, tenant, SendEmail(type="send_email", template="lead-welcome"), subject())


async def test_missing_subject_value_fails_permanently_and_sends_nothing(db, factory, smtp) -> None:
    tenant = await tenant_with_library(db, factory, **channels_doc(smtp.port))
    variables = subject()
    del variables["deal"]
    with pytest.raises(PermanentDeliveryError, match="missing value"):
        await run_step(db, tenant, SendEmail(type="send_email", template="proposal-reminder"), variables)
    assert smtp.messages == []


async def test_embedded_default_writes_the_mail_to_the_outbox(db, factory, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "env", "dev")
    tenant = await tenant_with_library(db, factory)
    result = await run_step(db, tenant, SendEmail(type="send_email", template="lead-welcome"), subject())
    path = get_settings().var_dir / "outbox" / "mrdj" / "run-41-step-2.eml"
    message = message_from_bytes(path.read_bytes())
    assert message["Message-ID"] == result.output["message_id"]
    assert message["To"] == "anna@example.nl"


async def test_without_email_config_outside_dev_the_step_says_what_to_configure(db, factory) -> None:
    tenant = await tenant_with_library(db, factory)
    with pytest.raises(ChannelNotConfigured, match="channels"):
        await run_step(db, tenant, SendEmail(type="send_email", template="lead-welcome"), subject())


async def test_whatsapp_step_sends_the_template_once(db, factory, monkeypatch) -> None:
    monkeypatch.setenv("MRDJ_WA_TOKEN", "wa-token")
    async with WhatsappFake("wa-token") as fake:
        tenant = await tenant_with_library(db, factory, whatsapp={
            "api_base": fake.url(""), "phone_number_id": "1234567890", "access_token": "env:MRDJ_WA_TOKEN"})
        step = SendWhatsapp(type="send_whatsapp", template="proposal-reminder-whatsapp")
        first = await run_step(db, tenant, step, subject())
        await run_step(db, tenant, step, subject())
    assert fake.deliveries[KEY] == 1 and len(fake.requests) == 1
    template = fake.requests[0].json()["template"]
    assert template["name"] == "proposal_reminder"
    assert [p["text"] for p in template["components"][0]["parameters"]] == ["Anna", "Bruiloft Anna & Tom"]
    assert first.output["message_id"] == "wamid.fake1"


async def test_slack_notify_step_posts_once_per_key(db, factory, monkeypatch) -> None:
    async with HttpFake() as fake:
        monkeypatch.setenv("MRDJ_SLACK_HOOK", fake.url("/services/T/B/x"))
        tenant = await tenant_with_library(db, factory, slack={"webhook_url": "env:MRDJ_SLACK_HOOK"})
        step = Notify(type="notify", channel="slack", template="lead-new-slack")
        await run_step(db, tenant, step, subject())
        await run_step(db, tenant, step, subject())
    assert fake.deliveries[KEY] == 1
    assert fake.requests[0].json()["text"].startswith(":tada: Nieuwe lead #12: Anna de Vries, bruiloft")


async def test_teams_notify_step_retries_after_429_and_then_posts_once(db, factory, monkeypatch) -> None:
    async with HttpFake() as fake:
        monkeypatch.setenv("MRDJ_TEAMS_HOOK", fake.url("/workflows/x"))
        tenant = await tenant_with_library(db, factory, teams={"webhook_url": "env:MRDJ_TEAMS_HOOK"})
        step = Notify(type="notify", channel="teams", template="finance-notify")
        fake.script.append(Reply(429, b"", {"Retry-After": "3"}))
        with pytest.raises(RetryableDeliveryError):
            await run_step(db, tenant, step, subject())
        await run_step(db, tenant, step, subject())
        await run_step(db, tenant, step, subject())
    assert fake.deliveries[KEY] == 1


async def test_http_webhook_step_renders_body_signs_and_sends_once(db, factory, monkeypatch) -> None:
    monkeypatch.setenv("MRDJ_HOOK_SECRET", "s3cret")
    tenant = await tenant_with_library(db, factory)
    async with HttpFake() as fake:
        step = HttpWebhook(type="http_webhook", url=fake.url("/crm"), secret="env:MRDJ_HOOK_SECRET",
                           body_template='{"lead": {{ lead.id }}, "name": {{ contact.first_name|tojson }}}')
        await run_step(db, tenant, step, subject())
        await run_step(db, tenant, step, subject())
    assert fake.deliveries[KEY] == 1
    assert fake.requests[0].json() == {"lead": 12, "name": "Anna"}
    assert fake.requests[0].headers["x-rentguy-signature"].startswith("sha256=")


async def test_channel_with_a_missing_secret_fails_permanently_without_crashing_the_build(db, factory) -> None:
    tenant = await factory.tenant("mrdj", channels={"slack": {"webhook_url": "env:MRDJ_NOT_SET_HOOK"}})
    channels: Channels = await build_channels(tenant)
    assert isinstance(channels.slack, UnavailableChannel)
    with pytest.raises(PermanentDeliveryError, match="MRDJ_NOT_SET_HOOK"):
        await channels.slack.post("x", target=None, idempotency_key=KEY)


async def test_embedded_default_writes_chat_notices_to_the_outbox_too(db, factory, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "env", "dev")
    tenant = await tenant_with_library(db, factory)
    await run_step(db, tenant, Notify(type="notify", channel="slack", template="lead-new-slack"), subject())
    path = get_settings().var_dir / "outbox" / "mrdj" / "run-41-step-2.slack.json"
    assert "Nieuwe lead #12" in path.read_text()
