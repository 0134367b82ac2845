"""Typed `channels` section of the tenant config: which delivery channels a tenant has and how to reach them.
Credentials are secret references resolved by `kit.secrets` when the channels are built."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rentguy_crm.kit.secrets import SecretRef


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailChannel(_Strict):
    provider: Literal["smtp", "outbox"] = "smtp"
    host: str | None = Field(default=None, description="SMTP host (provider smtp)")
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    from_address: str = Field(description='e.g. "Mr. DJ <info@mr-dj.nl>"')
    reply_to: str | None = None
    unsubscribe_url: str | None = Field(default=None, description="Marketing mail; {contact_id} is filled in")
    timeout_seconds: float = Field(default=15, gt=0, le=120)


class WhatsappChannel(_Strict):
    api_base: str = "https://graph.facebook.com"
    api_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    # The sender's number id, or a reference to where it lives (`env:NAME`, `file:/path`): it differs per
    # deployment, so a shipped tenant config names it the way it names the token.
    phone_number_id: str = Field(pattern=r"^(\d{5,20}|env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$")
    access_token: SecretRef
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class ChatChannel(_Strict):
    """Slack or Teams incoming webhooks. A webhook posts to one channel, so named targets get their own."""

    webhook_url: SecretRef
    targets: dict[str, SecretRef] = Field(default_factory=dict, description='e.g. {"#mrdj-finance": "env:..."}')
    default_target: str | None = None
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class WebhookChannel(_Strict):
    signing_secret: SecretRef | None = Field(default=None, description="Default HMAC secret for http_webhook steps")
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class ChannelsConfig(_Strict):
    email: EmailChannel | None = None
    whatsapp: WhatsappChannel | None = None
    slack: ChatChannel | None = None
    teams: ChatChannel | None = None
    webhooks: WebhookChannel = Field(default_factory=WebhookChannel)
