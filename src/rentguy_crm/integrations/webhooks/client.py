"""`WebhookSender`: POST a JSON body with a timestamp and an HMAC-SHA256 signature over `<timestamp>.<body>`,
so the receiver can check origin and freshness, and an Idempotency-Key it can deduplicate on."""

from __future__ import annotations

import hashlib
import hmac
import time

from rentguy_crm.integrations import http_delivery
from rentguy_crm.integrations.base import DeliveryReceipt, PermanentDeliveryError

SIGNATURE_HEADER = "X-RentGuy-Signature"
TIMESTAMP_HEADER = "X-RentGuy-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class SignedWebhookSender:
    def __init__(self, timeout: float = 10, default_secret: str | None = None) -> None:
        self.timeout = timeout
        self.default_secret = default_secret

    async def post(self, url: str, body: bytes, *, secret: str | None, idempotency_key: str) -> DeliveryReceipt:
        if not url.startswith(("https://", "http://")):
            raise PermanentDeliveryError("webhook: the URL must start with https:// or http://")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key,
                   TIMESTAMP_HEADER: timestamp}
        key = secret or self.default_secret
        if key:
            headers[SIGNATURE_HEADER] = signature(key, timestamp, body)
        response = await http_delivery.post("webhook", url, timeout_seconds=self.timeout, content=body, headers=headers)
        return DeliveryReceipt(channel="webhook", message_id=idempotency_key,
                               detail={"status": response.status_code})
