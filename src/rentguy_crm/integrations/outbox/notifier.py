"""Chat and WhatsApp stand-ins for the embedded default: each message lands as a JSON file next to the outbox
mail, so `make run` shows the whole lead_intake flow without Slack, Teams or WhatsApp accounts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from rentguy_crm.integrations.base import DeliveryReceipt
from rentguy_crm.integrations.outbox.files import file_name, write_once


class OutboxNotifier:
    def __init__(self, folder: Path, channel: str) -> None:
        self.folder = folder
        self.channel = channel

    def path_for(self, idempotency_key: str) -> Path:
        return self.folder / f"{file_name(idempotency_key)}.{self.channel}.json"

    async def _write(self, idempotency_key: str, record: dict[str, Any]) -> DeliveryReceipt:
        path = self.path_for(idempotency_key)
        data = (json.dumps({"channel": self.channel, "idempotency_key": idempotency_key, **record},
                           ensure_ascii=False, indent=2) + "\n").encode()
        outcome = await asyncio.to_thread(write_once, path, data, lambda existing: existing == data)
        detail: dict[str, Any] = {"transport": "outbox", "path": str(path)}
        if outcome == "kept":
            detail["deduplicated"] = True
        return DeliveryReceipt(channel=self.channel, message_id=idempotency_key, detail=detail)

    async def post(self, text: str, *, target: str | None, idempotency_key: str) -> DeliveryReceipt:
        return await self._write(idempotency_key, {"target": target, "text": text})

    async def send_template(self, to: str, template: str, language: str, parameters: list[str], *,
                            idempotency_key: str) -> DeliveryReceipt:
        return await self._write(idempotency_key, {"to": to, "template": template, "language": language,
                                                   "parameters": parameters})
