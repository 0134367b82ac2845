"""Shared helpers of the support tests: a manual clock, in-process capability doubles and a ticket builder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from rentguy_crm.automation.engine.step_registry import Channels
from rentguy_crm.integrations.base import DeliveryReceipt, EmailMessage, RetryableDeliveryError
from rentguy_crm.integrations.escalation import Escalation, OnCallPerson
from rentguy_crm.kit import clock
from rentguy_crm.tenants.models import Tenant

AMS = ZoneInfo("Europe/Amsterdam")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=AMS)


def manual_clock(start: dt.datetime) -> Iterator[clock.ManualClock]:
    manual = clock.ManualClock(start.astimezone(dt.UTC))
    clock.set_clock(manual)
    try:
        yield manual
    finally:
        clock.set_clock(None)


@dataclass
class RecordingChat:
    posts: list[tuple[str, str | None]] = field(default_factory=list)

    async def post(self, text: str, *, target: str | None, idempotency_key: str) -> DeliveryReceipt:
        self.posts.append((text, target))
        return DeliveryReceipt("slack", f"m{len(self.posts)}")


@dataclass
class RecordingMailer:
    sent: list[EmailMessage] = field(default_factory=list)

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> DeliveryReceipt:
        self.sent.append(message)
        return DeliveryReceipt("email", f"e{len(self.sent)}")


@dataclass
class FlakyVendor:
    """Pager, bridge, help desk and tracker in one; `down` makes every call fail like a 503."""

    down: bool = False
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _call(self, method: str, **kwargs: Any) -> None:
        if self.down:
            raise RetryableDeliveryError(f"{method}: 503 Service Unavailable", status=503)
        self.calls.append((method, kwargs))

    async def create_alert(self, **kwargs: Any) -> str:
        self._call("create_alert", **kwargs)
        return "req-1"

    async def close_alert(self, **kwargs: Any) -> None:
        self._call("close_alert", **kwargs)

    async def on_call(self, *, schedule: str) -> list[OnCallPerson]:
        return [OnCallPerson("On Call", "+31 6 0000 0000")]

    async def open_channel(self, **kwargs: Any) -> str:
        self._call("open_channel", **kwargs)
        return "C123"

    async def archive_channel(self, **kwargs: Any) -> None:
        self._call("archive_channel", **kwargs)

    async def create_ticket(self, **kwargs: Any) -> int:
        self._call("create_ticket", **kwargs)
        return 4711

    async def update_ticket(self, **kwargs: Any) -> None:
        self._call("update_ticket", **kwargs)

    async def create_issue(self, **kwargs: Any) -> str:
        self._call("create_issue", **kwargs)
        return f"CRM-{len(self.calls)}"

    def escalation(self, _tenant: Tenant) -> Escalation:
        return Escalation(pager=self, bridge=self, helpdesk=self, tracker=self)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs in self.calls if called == name]


def channels_factory(chat: RecordingChat, mailer: RecordingMailer | None = None) -> Any:
    async def build(tenant: Tenant) -> Channels:
        return Channels(tenant_slug=tenant.slug, slack=chat, mailer=mailer)

    return build
