"""`Messenger` over the WhatsApp Cloud API: template messages via POST /{version}/{phone-number-id}/messages with a
Bearer token. Besides the HTTP status, the Graph API's throttling error codes are retryable."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from rentguy_crm.integrations import http_delivery
from rentguy_crm.integrations.base import DeliveryReceipt, PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.tenants.sections.channels import WhatsappChannel

# Graph API codes for rate limits and temporary trouble that may come with a 400 status.
RETRYABLE_ERROR_CODES = {4, 80007, 130429, 131000, 131016, 131056, 133004}


class WhatsappCloudMessenger:
    def __init__(self, config: WhatsappChannel, access_token: SecretStr) -> None:
        self.config = config
        self.access_token = access_token

    @property
    def url(self) -> str:
        return f"{self.config.api_base.rstrip('/')}/{self.config.api_version}/{self.config.phone_number_id}/messages"

    def payload(self, to: str, template: str, language: str, parameters: list[str],
                idempotency_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": template, "language": {"code": language}}
        if parameters:
            body["components"] = [{"type": "body",
                                   "parameters": [{"type": "text", "text": p} for p in parameters]}]
        message: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                                   "to": to.lstrip("+"), "type": "template", "template": body}
        if idempotency_key:
            # The Cloud API has no idempotency key and does not deduplicate. biz_opaque_callback_data is only
            # echoed in the message's status webhooks: it ties a resent message to the step that sent it.
            message["biz_opaque_callback_data"] = idempotency_key
        return message

    async def send_template(self, to: str, template: str, language: str, parameters: list[str], *,
                            idempotency_key: str) -> DeliveryReceipt:
        headers = {"Authorization": f"Bearer {self.access_token.get_secret_value()}",
                   "Idempotency-Key": idempotency_key}
        try:
            response = await http_delivery.post("whatsapp", self.url, timeout_seconds=self.config.timeout_seconds,
                                                json=self.payload(to, template, language, parameters, idempotency_key),
                                                headers=headers)
        except PermanentDeliveryError as exc:
            if exc.status == 400 and _graph_error_code(exc) in RETRYABLE_ERROR_CODES:
                raise RetryableDeliveryError(str(exc), status=exc.status) from None
            raise
        data = response.json()
        message_id = (data.get("messages") or [{}])[0].get("id")
        return DeliveryReceipt(channel="whatsapp", message_id=message_id, detail={"to": to})


def _graph_error_code(exc: PermanentDeliveryError) -> int | None:
    # The classified message carries the start of the body: {"error": {"code": 130429, ...}}.
    import re

    found = re.search(r'"code"\s*:\s*(\d+)', str(exc))
    return int(found.group(1)) if found else None
