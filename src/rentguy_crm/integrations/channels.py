"""`Channels`: the delivery capabilities of one tenant, as the steps that send messages receive them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rentguy_crm.integrations.base import ChannelNotConfigured, ChatNotifier, Mailer, Messenger, WebhookSender


@dataclass
class Channels:
    """The delivery capabilities of one tenant. A missing one fails its step with a clear, permanent error."""

    tenant_slug: str
    mailer: Mailer | None = None
    slack: ChatNotifier | None = None
    teams: ChatNotifier | None = None
    messenger: Messenger | None = None
    webhooks: WebhookSender | None = None

    def require(self, name: Literal["mailer", "slack", "teams", "messenger", "webhooks"]) -> Any:
        channel = getattr(self, name)
        if channel is None:
            raise ChannelNotConfigured(
                f"The {name} channel is not configured for tenant {self.tenant_slug}; "
                f"add it under 'channels' in configs/tenants/{self.tenant_slug}.json and provision again."
            )
        return channel
