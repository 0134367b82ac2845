"""`ChatNotifier` over Slack incoming webhooks: POST {"text": ...} to the webhook of the target channel."""

from __future__ import annotations

from pydantic import SecretStr

from rentguy_crm.integrations import http_delivery
from rentguy_crm.integrations.base import DeliveryReceipt, PermanentDeliveryError


class SlackWebhookNotifier:
    channel = "slack"

    def __init__(self, default_url: SecretStr, targets: dict[str, SecretStr] | None = None,
                 default_target: str | None = None, timeout: float = 10) -> None:
        self.default_url = default_url
        self.targets = targets or {}
        self.default_target = default_target
        self.timeout = timeout

    def url_for(self, target: str | None) -> SecretStr:
        if target and target in self.targets:
            return self.targets[target]
        if target and self.default_target and target != self.default_target:
            # An incoming webhook posts to one channel; silently posting elsewhere would hide the mistake.
            raise PermanentDeliveryError(
                f"{self.channel}: no webhook configured for target {target}; add it under "
                f"channels.{self.channel}.targets")
        return self.default_url

    def payload(self, text: str, target: str | None) -> dict[str, object]:
        # Legacy webhooks honour "channel"; app webhooks post to their own channel and ignore it.
        return {"text": text, "channel": target} if target else {"text": text}

    async def post(self, text: str, *, target: str | None, idempotency_key: str) -> DeliveryReceipt:
        url = self.url_for(target)
        await http_delivery.post(self.channel, url.get_secret_value(), timeout_seconds=self.timeout,
                                 json=self.payload(text, target), headers={"Idempotency-Key": idempotency_key})
        return DeliveryReceipt(channel=self.channel, message_id=idempotency_key,
                               detail={"target": target or self.default_target})
