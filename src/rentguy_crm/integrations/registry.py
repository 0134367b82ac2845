"""Builds a tenant's `Channels` from its config (what the automation engine's `ChannelsFactory` answers). A channel
whose config or secret is missing becomes an `UnavailableChannel` that fails its step with a clear, permanent
error; nothing crashes here."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import SecretStr, ValidationError

from rentguy_crm.config import get_settings
from rentguy_crm.integrations.base import DeliveryReceipt, EmailMessage, PermanentDeliveryError
from rentguy_crm.integrations.channels import Channels
from rentguy_crm.integrations.outbox.mailer import OutboxMailer
from rentguy_crm.integrations.outbox.notifier import OutboxNotifier
from rentguy_crm.integrations.slack.client import SlackWebhookNotifier
from rentguy_crm.integrations.smtp.mailer import SmtpMailer
from rentguy_crm.integrations.teams.client import TeamsWebhookNotifier
from rentguy_crm.integrations.webhooks.client import SignedWebhookSender
from rentguy_crm.integrations.whatsapp.client import WhatsappCloudMessenger
from rentguy_crm.kit import secrets
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.channels import ChannelsConfig, ChatChannel, WhatsappChannel

log = structlog.get_logger(__name__)


class UnavailableChannel:
    """Stands in for a channel that is configured wrongly; every use fails permanently with the reason."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def _fail(self) -> PermanentDeliveryError:
        return PermanentDeliveryError(f"{self.name}: not usable: {self.reason}")

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> DeliveryReceipt:
        raise self._fail()

    async def post(self, *args: Any, **kwargs: Any) -> DeliveryReceipt:
        raise self._fail()

    async def send_template(self, *args: Any, **kwargs: Any) -> DeliveryReceipt:
        raise self._fail()


def channels_config(tenant: Tenant) -> ChannelsConfig:
    return ChannelsConfig.model_validate((tenant.config or {}).get("channels") or {})


def _default_from(tenant: Tenant) -> str:
    return f"{tenant.name} <noreply@{tenant.slug}.localhost>"


def _with_phone_number_id(config: WhatsappChannel) -> WhatsappChannel:
    """The config with its phone number id resolved when it is given as a reference."""
    if config.phone_number_id.isdigit():
        return config
    return config.model_copy(update={"phone_number_id": secrets.resolve(config.phone_number_id).get_secret_value()})


def _chat(cls: type[SlackWebhookNotifier], config: ChatChannel) -> SlackWebhookNotifier:
    targets: dict[str, SecretStr] = {name: secrets.resolve(ref) for name, ref in config.targets.items()}
    return cls(secrets.resolve(config.webhook_url), targets, config.default_target, config.timeout_seconds)


async def build_channels(tenant: Tenant) -> Channels:
    channels = Channels(tenant_slug=tenant.slug)
    try:
        config = channels_config(tenant)
    except ValidationError as exc:
        reason = f"the 'channels' section of configs/tenants/{tenant.slug}.json is invalid: {exc.errors()[0]['msg']}"
        log.warning("channels_config_invalid", tenant=tenant.slug)
        broken = UnavailableChannel("channels", reason)
        return Channels(tenant_slug=tenant.slug, mailer=broken, slack=broken, teams=broken, messenger=broken,
                        webhooks=broken)
    settings = get_settings()

    outbox_folder = settings.var_dir / "outbox" / tenant.slug

    def guarded(name: str, build: Any, dev_stand_in: Any = None) -> Any:
        try:
            return build()
        except secrets.SecretUnavailable as exc:
            if settings.env == "dev" and dev_stand_in is not None:
                # The embedded default runs the shipped tenant config without its production secrets: what the
                # channel would send goes to the outbox instead of failing the step.
                log.info("channel_secret_missing_using_outbox", tenant=tenant.slug, channel=name)
                return dev_stand_in()
            log.warning("channel_unavailable", tenant=tenant.slug, channel=name, reason=str(exc))
            return UnavailableChannel(name, str(exc))
        except ValueError as exc:
            log.warning("channel_unavailable", tenant=tenant.slug, channel=name, reason=str(exc))
            return UnavailableChannel(name, str(exc))

    email = config.email
    if email is not None and email.provider == "smtp":
        channels.mailer = guarded("email", lambda: SmtpMailer(
            email, secrets.resolve(email.password) if email.password else None),
            lambda: OutboxMailer(outbox_folder, email.from_address, email.reply_to))
    elif email is not None or settings.env == "dev":
        # The embedded default: no SMTP server needed to see the mail a workflow sends.
        channels.mailer = OutboxMailer(outbox_folder,
                                       email.from_address if email else _default_from(tenant),
                                       email.reply_to if email else None)
    if config.whatsapp is not None:
        wa = config.whatsapp
        channels.messenger = guarded("whatsapp", lambda: WhatsappCloudMessenger(
            _with_phone_number_id(wa), secrets.resolve(wa.access_token)),
            lambda: OutboxNotifier(outbox_folder, "whatsapp"))
    if config.slack is not None:
        slack = config.slack
        channels.slack = guarded("slack", lambda: _chat(SlackWebhookNotifier, slack),
                                 lambda: OutboxNotifier(outbox_folder, "slack"))
    if config.teams is not None:
        teams = config.teams
        channels.teams = guarded("teams", lambda: _chat(TeamsWebhookNotifier, teams),
                                 lambda: OutboxNotifier(outbox_folder, "teams"))
    if settings.env == "dev":
        # The embedded default: unconfigured chat and WhatsApp channels write to the outbox instead of failing.
        channels.slack = channels.slack or OutboxNotifier(outbox_folder, "slack")
        channels.teams = channels.teams or OutboxNotifier(outbox_folder, "teams")
        channels.messenger = channels.messenger or OutboxNotifier(outbox_folder, "whatsapp")
    hooks = config.webhooks
    channels.webhooks = guarded("webhooks", lambda: SignedWebhookSender(
        hooks.timeout_seconds,
        secrets.resolve(hooks.signing_secret).get_secret_value() if hooks.signing_secret else None))
    return channels
