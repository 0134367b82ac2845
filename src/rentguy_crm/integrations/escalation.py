"""The escalation capabilities of the support desk and the tenant's set of them.

Code asks for "the tenant's pager", never for Opsgenie (`Pager`, `IncidentBridge`, `HelpDesk`, `IssueTracker`).
Every vendor client raises `RetryableDeliveryError` (timeouts, 429 with `retry_after`, 5xx) or
`PermanentDeliveryError` (other 4xx, a missing secret) from `integrations.base`, so a vendor call made by an
automation run is retried or failed by the run engine like any other channel. Secrets are resolved at call time:
building the set never fails, a vendor whose secret is missing fails its calls with a clear, permanent error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rentguy_crm.integrations.base import OnCallPerson
from rentguy_crm.integrations.freshdesk.client import FreshdeskHelpDesk
from rentguy_crm.integrations.jira.client import JiraIssueTracker
from rentguy_crm.integrations.opsgenie.client import OpsgeniePager
from rentguy_crm.integrations.slack.bridge import SlackIncidentBridge
from rentguy_crm.tenants.sections.channels import ChannelsConfig

__all__ = ["Escalation", "HelpDesk", "IncidentBridge", "IssueTracker", "OnCallPerson", "Pager", "escalation_for"]


@runtime_checkable
class Pager(Protocol):
    """Opsgenie: alerts deduplicated on `alias`, priority "P1".."P5"."""

    async def create_alert(self, *, alias: str, message: str, description: str, priority: str,
                           responders: list[dict[str, str]]) -> str: ...

    async def close_alert(self, *, alias: str, note: str) -> None: ...

    async def on_call(self, *, schedule: str) -> list[OnCallPerson]: ...


@runtime_checkable
class IncidentBridge(Protocol):
    """Slack Web API: one channel per incident, with its people, summary and runbook link."""

    async def open_channel(self, *, name: str, member_emails: list[str], summary: str,
                           runbook_url: str | None) -> str: ...

    async def archive_channel(self, *, channel_id: str) -> None: ...


@runtime_checkable
class HelpDesk(Protocol):
    """Freshdesk: priority 1 (low) .. 4 (urgent), status 2 (open) .. 5 (closed)."""

    async def create_ticket(self, *, subject: str, description: str, email: str, priority: int,
                            status: int) -> int: ...

    async def update_ticket(self, *, ticket_id: int, status: int) -> None: ...


@runtime_checkable
class IssueTracker(Protocol):
    """Jira Cloud: issues with an Atlassian Document Format description; answers the issue key (e.g. OPS-12)."""

    async def create_issue(self, *, project_key: str, issue_type: str, summary: str, description_adf: dict[str, Any],
                           labels: list[str]) -> str: ...


@dataclass(frozen=True)
class Escalation:
    """The escalation vendors of one tenant; `None` where the tenant has not configured the vendor."""

    pager: Pager | None
    bridge: IncidentBridge | None
    helpdesk: HelpDesk | None
    tracker: IssueTracker | None


def escalation_for(channels_config: ChannelsConfig) -> Escalation:
    """The tenant's escalation vendors from its `channels` section (`opsgenie`, `slack_bridge`, `freshdesk`,
    `jira`). Never raises for a missing secret: that surfaces as `ChannelNotConfigured` on the first call."""
    config = channels_config
    return Escalation(
        pager=OpsgeniePager(config.opsgenie) if config.opsgenie else None,
        bridge=SlackIncidentBridge(config.slack_bridge) if config.slack_bridge else None,
        helpdesk=FreshdeskHelpDesk(config.freshdesk) if config.freshdesk else None,
        tracker=JiraIssueTracker(config.jira) if config.jira else None,
    )
