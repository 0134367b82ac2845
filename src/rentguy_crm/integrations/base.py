"""Capability interfaces and the delivery errors the run engine classifies.

Code asks for a capability ("the tenant's mailer"), never for a vendor. Every client raises
`RetryableDeliveryError` (timeouts, 429, 5xx) or `PermanentDeliveryError` (other 4xx, bad config); the
engine retries the first with backoff and fails the run on the second.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class DeliveryError(Exception):
    """A channel could not deliver. `retryable` tells the run engine whether to try again."""

    retryable: bool = False

    def __init__(self, message: str, *, retry_after: dt.timedelta | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class RetryableDeliveryError(DeliveryError):
    retryable = True


class PermanentDeliveryError(DeliveryError):
    retryable = False


class ChannelNotConfigured(PermanentDeliveryError):
    """The tenant has no (enabled) integration for this capability."""


@dataclass(frozen=True)
class OnCallPerson:
    """Who is on call as the pager reports it: a display name and the first reachable contact (phone first,
    then e-mail; empty when the pager has none). Personal data: show it, never log it."""

    name: str
    contact: str


@dataclass
class DeliveryReceipt:
    channel: str
    message_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MailPart:
    """A file carried by a mail: an attachment, or an image the HTML shows inline as `<img src="cid:<cid>">`."""

    data: bytes
    mime_type: str                 # e.g. application/pdf, image/png
    filename: str | None = None    # attachments: the name the reader sees
    cid: str | None = None         # inline images: the Content-ID without angle brackets (RFC 2392)


@dataclass
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    marketing: bool = False
    unsubscribe_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    inline_images: list[MailPart] = field(default_factory=list)  # shown by the HTML part (multipart/related)
    attachments: list[MailPart] = field(default_factory=list)    # multipart/mixed


@runtime_checkable
class Mailer(Protocol):
    async def send(self, message: EmailMessage, *, idempotency_key: str) -> DeliveryReceipt: ...


@runtime_checkable
class ChatNotifier(Protocol):
    async def post(self, text: str, *, target: str | None, idempotency_key: str) -> DeliveryReceipt: ...


@runtime_checkable
class Messenger(Protocol):
    async def send_template(self, to: str, template: str, language: str, parameters: list[str], *,
                            idempotency_key: str) -> DeliveryReceipt: ...


@runtime_checkable
class WebhookSender(Protocol):
    async def post(self, url: str, body: bytes, *, secret: str | None, idempotency_key: str) -> DeliveryReceipt: ...


class CalendarDeltaExpired(Exception):
    """The calendar's delta state is no longer known to the provider (Graph: 410 Gone): start a full round."""


@dataclass
class CalendarDeltaPage:
    """One page of changes: events (Graph event JSON; removed ones carry `@removed`) and where to go next."""

    events: list[dict[str, Any]]
    next_link: str | None = None
    delta_link: str | None = None


class CalendarSync(Protocol):
    """One shared calendar (Microsoft Graph). Errors: `CalendarDeltaExpired`, or an AppError saying what failed."""

    async def create_event(self, body: dict[str, Any], *, transaction_id: str) -> dict[str, Any]: ...

    async def update_event(self, event_id: str, body: dict[str, Any]) -> dict[str, Any] | None: ...

    async def delete_event(self, event_id: str) -> None: ...

    async def delta_page(self, link: str | None, *, start: str, end: str) -> CalendarDeltaPage: ...
