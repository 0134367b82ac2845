"""Where operations alerts (the watchdog) go: the tenant's configured Slack channel, or a webhook URL from the
environment for tenants without one (a small Slack incoming-webhook client of its own).

Speaks Slack's documented contract: POST JSON `{"text": ...}` to the webhook URL; 200 `ok` on success, 429 with
`Retry-After` when rate limited, 4xx with a reason (`invalid_payload`, `channel_not_found`, ...) otherwise.
"""

from __future__ import annotations

import datetime as dt
import os

import httpx

from rentguy_crm.integrations.base import (
    ChatNotifier,
    DeliveryReceipt,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from rentguy_crm.tenants.config import Monitoring
from rentguy_crm.tenants.models import Tenant


class SlackWebhookNotifier:
    """Implements the `ChatNotifier` capability over one incoming webhook."""

    def __init__(self, url: str, *, timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.transport = transport

    async def post(self, text: str, *, target: str | None, idempotency_key: str) -> DeliveryReceipt:
        body: dict[str, str] = {"text": text}
        if target:
            body["channel"] = target  # honoured by legacy webhooks; app webhooks post to their own channel
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                response = await client.post(self.url, json=body, headers={"X-Idempotency-Key": idempotency_key})
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"Slack webhook unreachable: {type(exc).__name__}") from None
        if response.status_code == 200:
            return DeliveryReceipt(channel="slack", detail={"target": target})
        reason = response.text.strip()[:200]
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("retry-after", "")
            raise RetryableDeliveryError(
                f"Slack answered {response.status_code} {reason}", status=response.status_code,
                retry_after=dt.timedelta(seconds=int(retry_after)) if retry_after.isdigit() else None)
        raise PermanentDeliveryError(f"Slack refused the message: {response.status_code} {reason}",
                                     status=response.status_code)


async def ops_notifier_for(tenant: Tenant) -> ChatNotifier | None:
    """The notifier the watchdog posts through (with `target=monitoring.ops_channel`).

    A tenant whose `channels.slack` is configured posts through that channel, like its workflows do: the ops
    channel is one of its `targets` (or its default). Otherwise the incoming-webhook URL in the environment
    variable named by `monitoring.slack_webhook_url_env`; None when neither is set.
    """
    from rentguy_crm.integrations.registry import build_channels, channels_config

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
    if not monitoring.slack_webhook_url_env:
        return None
    url = os.environ.get(monitoring.slack_webhook_url_env, "").strip()
    return SlackWebhookNotifier(url) if url else None


def monitoring_of(tenant: Tenant) -> Monitoring:
    """The tenant's monitoring section as provisioned (defaults when it has none or it is not valid)."""
    try:
        return Monitoring.model_validate((tenant.config or {}).get("monitoring") or {})
    except ValueError:
        return Monitoring()
