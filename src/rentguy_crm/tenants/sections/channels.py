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


class OpsgenieChannel(_Strict):
    """Opsgenie (https://docs.opsgenie.com/docs/alert-api): an API integration's key, the on-call schedule that
    P1 pages, and the shared secret the Opsgenie outgoing webhook sends back (header `X-Crm-Webhook-Secret`)."""

    api_base: str = Field(default="https://api.opsgenie.com", description="EU accounts: https://api.eu.opsgenie.com")
    api_key: SecretRef = Field(description="GenieKey of an API integration, e.g. env:CRM_MRDJ_OPSGENIE_KEY")
    schedule: str = Field(default="engineering_schedule", min_length=1, max_length=200,
                          description="On-call schedule name (or id) for P1 responders")
    schedule_identifier_type: Literal["name", "id"] = "name"
    webhook_secret: SecretRef | None = Field(default=None, description="Checked on POST /api/v1/webhooks/opsgenie/T")
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class SlackBridgeChannel(_Strict):
    """Slack Web API (https://api.slack.com/web) with a bot token (scopes channels:manage, users:read.email,
    chat:write): one channel per P2 incident."""

    base_url: str = Field(default="https://slack.com/api/", description="Web API base URL, ends with /")
    bot_token: SecretRef = Field(description="xoxb- bot token, e.g. env:CRM_MRDJ_SLACK_BOT_TOKEN")
    private_channels: bool = False
    rate_limit_retries: int = Field(default=2, ge=0, le=5, description="429s waited out (Retry-After) per call")
    rate_limit_max_wait_seconds: int = Field(default=10, ge=0, le=60,
                                             description="Longer Retry-After waits go back to the run engine")
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class FreshdeskChannel(_Strict):
    """Freshdesk API v2 (https://developers.freshdesk.com/api/): the helpdesk domain and an agent's API key, and
    the shared secret the Freshdesk automation rule's webhook sends (header `X-Crm-Webhook-Secret`)."""

    base_url: str = Field(description="e.g. https://mrdj.freshdesk.com")
    api_key: SecretRef = Field(description="e.g. env:CRM_MRDJ_FRESHDESK_KEY")
    webhook_secret: SecretRef | None = Field(default=None,
                                             description="Checked on POST /api/v1/webhooks/freshdesk/T")
    timeout_seconds: float = Field(default=15, gt=0, le=120)


class JiraChannel(_Strict):
    """Jira Cloud REST v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/): basic auth with an
    account's e-mail and API token. Project keys, issue types and field ids are site specifics: configuration."""

    base_url: str = Field(description="e.g. https://rentguy.atlassian.net")
    email: str = Field(min_length=3, max_length=200, description="Account the API token belongs to")
    api_token: SecretRef = Field(description="e.g. env:CRM_MRDJ_JIRA_TOKEN")
    retro_project_key: str = Field(default="OPS", pattern=r"^[A-Z][A-Z0-9_]{1,19}$")
    retro_issue_type: str = "Task"
    bug_project_key: str = Field(default="CRM", pattern=r"^[A-Z][A-Z0-9_]{1,19}$")
    bug_issue_type: str = "Bug"
    labels: list[str] = Field(default_factory=lambda: ["crm-incident"])
    extra_fields: dict[str, object] = Field(default_factory=dict,
                                            description='Site fields set on every issue, e.g. {"customfield_10010": 3}')
    timeout_seconds: float = Field(default=15, gt=0, le=120)


class ChannelsConfig(_Strict):
    email: EmailChannel | None = None
    whatsapp: WhatsappChannel | None = None
    slack: ChatChannel | None = None
    teams: ChatChannel | None = None
    webhooks: WebhookChannel = Field(default_factory=WebhookChannel)
    # Escalation vendors of the support desk (integrations/escalation.py); absent = not configured.
    opsgenie: OpsgenieChannel | None = None
    slack_bridge: SlackBridgeChannel | None = None
    freshdesk: FreshdeskChannel | None = None
    jira: JiraChannel | None = None
