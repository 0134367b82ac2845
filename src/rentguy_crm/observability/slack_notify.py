"""Where operations alerts (the watchdog) go: the tenant's configured Slack channel, or, for tenants without
one, the incoming-webhook URL in the environment variable their `monitoring` section names. Both post through
the same Slack client as the workflows (`integrations/slack`)."""

from __future__ import annotations

from rentguy_crm.integrations.base import ChatNotifier
from rentguy_crm.integrations.registry import build_channels, channels_config
from rentguy_crm.integrations.slack.client import SlackWebhookNotifier
from rentguy_crm.kit import secrets
from rentguy_crm.tenants.config import Monitoring
from rentguy_crm.tenants.models import Tenant


async def ops_notifier_for(tenant: Tenant) -> ChatNotifier | None:
    """The notifier the watchdog posts through (with `target=monitoring.ops_channel`).

    A tenant whose `channels.slack` is configured posts through that channel, like its workflows do: the ops
    channel is one of its `targets` (or its default). Otherwise the incoming-webhook URL in the environment
    secret `monitoring.slack_webhook_url` refers to; None when neither is set.
    """

    try:
        configured = channels_config(tenant).slack is not None
    except ValueError:
        configured = True  # build_channels turns an invalid section into a channel that says what is wrong
    if configured:
        return (await build_channels(tenant)).slack
    return await slack_notifier_for(tenant)


async def slack_notifier_for(tenant: Tenant) -> SlackWebhookNotifier | None:
    """The ops-channel notifier of a tenant, or None when its webhook URL is not configured."""
    monitoring = monitoring_of(tenant)
    if not monitoring.slack_webhook_url:
        return None
    try:
        return SlackWebhookNotifier(secrets.resolve(monitoring.slack_webhook_url))
    except secrets.SecretUnavailable:
        return None


def monitoring_of(tenant: Tenant) -> Monitoring:
    """The tenant's monitoring section as provisioned (defaults when it has none or it is not valid)."""
    try:
        return Monitoring.model_validate((tenant.config or {}).get("monitoring") or {})
    except ValueError:
        return Monitoring()
