"""Delivery channels against local fakes: what each sends, and how each failure is classified for the run engine."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from rentguy_crm.integrations.base import EmailMessage, PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.integrations.http_delivery import retry_after
from rentguy_crm.integrations.slack.client import SlackWebhookNotifier
from rentguy_crm.integrations.smtp.mailer import SmtpMailer
from rentguy_crm.integrations.smtp.message import message_id
from rentguy_crm.integrations.teams.client import TeamsWebhookNotifier
from rentguy_crm.integrations.webhooks.client import SignedWebhookSender
from rentguy_crm.integrations.whatsapp.client import WhatsappCloudMessenger
from rentguy_crm.kit import secrets
from rentguy_crm.tenants.sections.channels import EmailChannel, WhatsappChannel
from tests.vendor_fakes import HttpFake, Reply, SilentServer, SmtpFake, WhatsappFake

KEY = "run:7:step:1"


@pytest.fixture
def smtp() -> Any:
    fake = SmtpFake()
    fake.controller.start()
    yield fake
    fake.controller.stop()


def smtp_mailer(port: int, timeout: float = 60) -> SmtpMailer:  # a ceiling: the fake answers at once
    return SmtpMailer(EmailChannel(provider="smtp", host="127.0.0.1", port=port, security="none",
                                   from_address="Mr. DJ <info@mr-dj.nl>", reply_to="boekingen@mr-dj.nl",
                                   timeout_seconds=timeout))


def mail(**kw: Any) -> EmailMessage:
    return EmailMessage(to="anna@example.nl", subject="Welkom", text="Hoi Anna", html="<p>Hoi Anna</p>", **kw)


async def test_smtp_sends_with_message_id_from_the_key_and_the_tenants_addresses(smtp: SmtpFake) -> None:
    receipt = await smtp_mailer(smtp.port).send(mail(), idempotency_key=KEY)
    [sent] = smtp.messages
    assert sent["Message-ID"] == receipt.message_id == message_id(KEY, "info@mr-dj.nl")
    assert (sent["From"], sent["Reply-To"], sent["To"]) == ("Mr. DJ <info@mr-dj.nl>", "boekingen@mr-dj.nl",
                                                             "anna@example.nl")
    assert sent["List-Unsubscribe"] is None


async def test_marketing_mail_carries_list_unsubscribe(smtp: SmtpFake) -> None:
    await smtp_mailer(smtp.port).send(mail(marketing=True, unsubscribe_url="https://mr-dj.nl/afmelden?c=5"),
                                      idempotency_key=KEY)
    [sent] = smtp.messages
    assert "<https://mr-dj.nl/afmelden?c=5>" in sent["List-Unsubscribe"]
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_smtp_temporary_failure_is_retryable(smtp: SmtpFake) -> None:
    smtp.replies.append("451 4.3.0 Try again later")
    with pytest.raises(RetryableDeliveryError) as err:
        await smtp_mailer(smtp.port).send(mail(), idempotency_key=KEY)
    assert err.value.status == 451


async def test_smtp_rejection_is_permanent(smtp: SmtpFake) -> None:
    smtp.rcpt_replies.append("550 5.1.1 No such user")
    with pytest.raises(PermanentDeliveryError) as err:
        await smtp_mailer(smtp.port).send(mail(), idempotency_key=KEY)
    assert not err.value.retryable and err.value.status == 550


async def test_smtp_connection_refused_is_retryable() -> None:
    with SilentPort() as port, pytest.raises(RetryableDeliveryError):
        await smtp_mailer(port, timeout=2).send(mail(), idempotency_key=KEY)


async def test_smtp_server_that_never_greets_times_out_as_retryable() -> None:
    async with SilentServer() as silent:
        with pytest.raises(RetryableDeliveryError):
            await smtp_mailer(silent.port, timeout=0.3).send(mail(), idempotency_key=KEY)


class SilentPort:
    """A port with nothing listening (connection refused)."""

    def __enter__(self) -> int:
        from tests.vendor_fakes import free_port

        return free_port()

    def __exit__(self, *exc: object) -> None:
        return None


# --- HTTP channels: one sender per vendor, the same classification table for all ---------------------------

Send = Callable[[str], Awaitable[Any]]


def whatsapp_sender(fake: HttpFake, timeout: float) -> Send:
    config = WhatsappChannel(api_base=fake.url(""), phone_number_id="1234567890", access_token="env:UNUSED",
                             timeout_seconds=timeout)
    messenger = WhatsappCloudMessenger(config, SecretStr("wa-token"))
    return lambda key: messenger.send_template("+31612345678", "proposal_reminder", "nl", ["Anna", "Bruiloft"],
                                               idempotency_key=key)


def slack_sender(fake: HttpFake, timeout: float) -> Send:
    notifier = SlackWebhookNotifier(SecretStr(fake.url("/services/T/B/x")), timeout=timeout)
    return lambda key: notifier.post("Nieuwe lead", target=None, idempotency_key=key)


def teams_sender(fake: HttpFake, timeout: float) -> Send:
    notifier = TeamsWebhookNotifier(SecretStr(fake.url("/workflows/abc")), timeout=timeout)
    return lambda key: notifier.post("Nieuwe lead", target=None, idempotency_key=key)


def webhook_sender(fake: HttpFake, timeout: float) -> Send:
    sender = SignedWebhookSender(timeout=timeout)
    return lambda key: sender.post(fake.url("/hooks/crm"), b'{"lead_id": 1}', secret="s3cret", idempotency_key=key)


SENDERS = {"whatsapp": whatsapp_sender, "slack": slack_sender, "teams": teams_sender, "webhook": webhook_sender}


@pytest.fixture(params=sorted(SENDERS))
async def vendor(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, HttpFake, Callable[[float], Send]]]:
    name = request.param
    fake = WhatsappFake("wa-token") if name == "whatsapp" else HttpFake()
    async with fake:
        yield name, fake, lambda timeout=60.0: SENDERS[name](fake, timeout)  # a ceiling; the fake answers at once


async def test_http_channel_success_is_counted_once_per_key(vendor) -> None:  # type: ignore[no-untyped-def]
    _name, fake, sender = vendor
    await sender()(KEY)
    assert fake.deliveries[KEY] == 1


async def test_every_http_channel_sends_the_key_as_idempotency_key_on_every_attempt(vendor) -> None:  # type: ignore[no-untyped-def]
    _name, fake, sender = vendor
    fake.script.append(Reply(503, b"unavailable"))
    with pytest.raises(RetryableDeliveryError):
        await sender()(KEY)
    await sender()(KEY)
    assert [r.headers["idempotency-key"] for r in fake.requests] == [KEY, KEY]


async def test_whatsapp_carries_the_key_in_biz_opaque_callback_data_for_its_status_webhooks() -> None:
    async with WhatsappFake("wa-token") as fake:
        await whatsapp_sender(fake, 60.0)(KEY)
    [request] = fake.requests
    assert request.json()["biz_opaque_callback_data"] == KEY


async def test_http_channel_429_is_retryable_and_honours_retry_after(vendor) -> None:  # type: ignore[no-untyped-def]
    _name, fake, sender = vendor
    fake.script.append(Reply(429, b"rate limited", {"Retry-After": "7"}))
    with pytest.raises(RetryableDeliveryError) as err:
        await sender()(KEY)
    assert err.value.retry_after == dt.timedelta(seconds=7) and err.value.status == 429
    assert fake.deliveries[KEY] == 0


async def test_http_channel_5xx_is_retryable(vendor) -> None:  # type: ignore[no-untyped-def]
    _name, fake, sender = vendor
    fake.script.append(Reply(503, b"unavailable"))
    with pytest.raises(RetryableDeliveryError) as err:
        await sender()(KEY)
    assert err.value.status == 503


async def test_http_channel_other_4xx_is_permanent(vendor) -> None:  # type: ignore[no-untyped-def]
    _name, fake, sender = vendor
    fake.script.append(Reply(400, b'{"error": {"message": "bad", "code": 100}}'))
    with pytest.raises(PermanentDeliveryError) as err:
        await sender()(KEY)
    assert not err.value.retryable and err.value.status == 400


async def test_http_channel_timeout_is_retryable(vendor) -> None:  # type: ignore[no-untyped-def]
    _name, fake, sender = vendor
    fake.script.append(Reply(200, b"ok", delay=2.0))
    with pytest.raises(RetryableDeliveryError, match="no answer within"):
        await sender(0.2)(KEY)


async def test_http_channel_connection_refused_is_retryable() -> None:
    with SilentPort() as port:
        notifier = SlackWebhookNotifier(SecretStr(f"http://127.0.0.1:{port}/x"), timeout=2)
        with pytest.raises(RetryableDeliveryError, match="connection failed") as err:
            await notifier.post("x", target=None, idempotency_key=KEY)
    assert str(port) not in str(err.value)  # webhook URLs are credentials: never in messages


async def test_whatsapp_sends_a_template_message_with_bearer_token() -> None:
    async with WhatsappFake("wa-token") as fake:
        receipt = await whatsapp_sender(fake, 5)(KEY)
    [request] = fake.requests
    assert request.path == "/v21.0/1234567890/messages"
    payload = request.json()
    assert payload["template"]["name"] == "proposal_reminder"
    assert payload["template"]["language"] == {"code": "nl"}
    assert [p["text"] for p in payload["template"]["components"][0]["parameters"]] == ["Anna", "Bruiloft"]
    assert receipt.message_id == "wamid.fake1"


async def test_whatsapp_throttling_code_is_retryable_even_with_status_400() -> None:
    async with WhatsappFake("wa-token") as fake:
        fake.script.append(Reply(400, b'{"error": {"message": "Rate limit hit", "code": 130429}}'))
        with pytest.raises(RetryableDeliveryError):
            await whatsapp_sender(fake, 5)(KEY)


async def test_whatsapp_bad_token_is_permanent() -> None:
    async with WhatsappFake("other-token") as fake:
        with pytest.raises(PermanentDeliveryError) as err:
            await whatsapp_sender(fake, 5)(KEY)
    assert err.value.status == 401


async def test_webhook_is_signed_over_timestamp_and_body() -> None:
    async with HttpFake() as fake:
        await webhook_sender(fake, 5)(KEY)
    [request] = fake.requests
    timestamp = request.headers["x-rentguy-timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-rentguy-signature"] == f"sha256={expected}"
    assert request.headers["idempotency-key"] == KEY


async def test_teams_gets_an_adaptive_card() -> None:
    async with HttpFake() as fake:
        await teams_sender(fake, 5)(KEY)
    card = fake.requests[0].json()["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"] == "Nieuwe lead"


async def test_slack_target_without_its_own_webhook_is_refused() -> None:
    notifier = SlackWebhookNotifier(SecretStr("http://127.0.0.1:9/x"), default_target="#mrdj-sales")
    with pytest.raises(PermanentDeliveryError, match="#mrdj-finance"):
        await notifier.post("x", target="#mrdj-finance", idempotency_key=KEY)


def test_retry_after_accepts_an_http_date() -> None:
    now = dt.datetime(2025, 3, 4, 12, 0, tzinfo=dt.UTC)
    assert retry_after("Tue, 04 Mar 2025 12:00:30 GMT", now) == dt.timedelta(seconds=30)


# --- secrets ------------------------------------------------------------------------------------------------

def test_secret_from_env_is_a_secret_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MRDJ_TEST_TOKEN", "t0ken")
    value = secrets.resolve("env:MRDJ_TEST_TOKEN")
    assert value.get_secret_value() == "t0ken" and "t0ken" not in repr(value)


def test_secret_from_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "token"
    path.write_text("from-file\n")
    assert secrets.resolve(f"file:{path}").get_secret_value() == "from-file"


def test_missing_env_secret_names_the_variable() -> None:
    with pytest.raises(secrets.SecretUnavailable, match="MRDJ_NOT_SET_ANYWHERE"):
        secrets.resolve("env:MRDJ_NOT_SET_ANYWHERE")


def test_vault_reference_is_a_clear_not_configured_error() -> None:
    with pytest.raises(secrets.SecretUnavailable, match=r"Vault .* not configured"):
        secrets.resolve("vault:secret/mrdj#smtp")


def test_literal_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(secrets.SecretUnavailable) as err:
        secrets.resolve("hunter2")
    assert "hunter2" not in str(err.value)
