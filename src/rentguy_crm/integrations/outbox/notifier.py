"""Chat and WhatsApp stand-ins for the embedded default: each message lands as a JSON file next to the outbox
mail, so `make run` shows the whole lead_intake flow without Slack, Teams or WhatsApp accounts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rentguy_crm.integrations.base import DeliveryReceipt


class OutboxNotifier:
    def __init__(self, folder: Path, channel: str) -> None:
        self.folder = folder
        self.channel = channel

    def _write(self, idempotency_key: str, record: dict[str, Any]) -> DeliveryReceipt:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", idempotency_key).strip("-")
        path = self.folder / f"{name}.{self.channel}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"channel": self.channel, **record}, ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
        return DeliveryReceipt(channel=self.channel, message_id=idempotency_key,
                               detail={"transport": "outbox", "path": str(path)})

    async def post(self, text: str, *, target: str | None, idempotency_key: str) -> DeliveryReceipt:
        return self._write(idempotency_key, {"target": target, "text": text})

    async def send_template(self, to: str, template: str, language: str, parameters: list[str], *,
                            idempotency_key: str) -> DeliveryReceipt:
        return self._write(idempotency_key, {"to": to, "template": template, "language": language,
                                             "parameters": parameters})
