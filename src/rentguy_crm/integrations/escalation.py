"""Escalation capabilities (playbook section 3): a pager (Opsgenie), an incident bridge (Slack Web API), a help
desk (Freshdesk) and an issue tracker (Jira). Code asks for "the tenant's pager", never for a vendor; the vendor
clients implement these Protocols. Every method raises `RetryableDeliveryError` or `PermanentDeliveryError`
(`integrations.base`) like the other channels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class OnCallPerson:
    name: str
    contact: str


class Pager(Protocol):  # Opsgenie
    async def create_alert(self, *, alias: str, message: str, description: str, priority: str,
                           responders: list[dict[str, str]]) -> str: ...  # returns vendor alert id/request id

    async def close_alert(self, *, alias: str, note: str) -> None: ...

    async def on_call(self, *, schedule: str) -> list[OnCallPerson]: ...


class IncidentBridge(Protocol):  # Slack Web API
    async def open_channel(self, *, name: str, member_emails: list[str], summary: str,
                           runbook_url: str | None) -> str: ...  # channel id

    async def archive_channel(self, *, channel_id: str) -> None: ...


class HelpDesk(Protocol):  # Freshdesk
    async def create_ticket(self, *, subject: str, description: str, email: str, priority: int,
                            status: int) -> int: ...

    async def update_ticket(self, *, ticket_id: int, status: int) -> None: ...


class IssueTracker(Protocol):  # Jira
    async def create_issue(self, *, project_key: str, issue_type: str, summary: str, description_adf: dict,
                           labels: list[str]) -> str: ...  # issue key


@dataclass(frozen=True)
class Escalation:
    """A tenant's escalation capabilities; None = not configured (the desk notes that and carries on)."""

    pager: Pager | None = None
    bridge: IncidentBridge | None = None
    helpdesk: HelpDesk | None = None
    tracker: IssueTracker | None = None


def escalation_for(channels_config: Any) -> Escalation:
    """The capabilities configured in a tenant's channels config. The vendor clients are wired in here."""
    return Escalation()
