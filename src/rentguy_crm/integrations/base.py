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
