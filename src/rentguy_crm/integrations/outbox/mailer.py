"""`Mailer` that writes each message to `<var_dir>/outbox/<tenant>/<key>.eml`: what `make run` uses when no SMTP
server is configured, so a newcomer can open the welcome mail a new lead gets."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from pathlib import Path

from rentguy_crm.integrations.base import DeliveryReceipt, EmailMessage
from rentguy_crm.integrations.outbox.files import file_name, write_once
from rentguy_crm.integrations.smtp.message import build_mime


class OutboxMailer:
    def __init__(self, folder: Path, from_address: str, reply_to: str | None = None) -> None:
        self.folder = folder
        self.from_address = from_address
        self.reply_to = reply_to

    def path_for(self, idempotency_key: str) -> Path:
        return self.folder / (file_name(idempotency_key) + ".eml")

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> DeliveryReceipt:
        mime = build_mime(message, idempotency_key=idempotency_key, default_from=self.from_address,
                          default_reply_to=self.reply_to)
        path = self.path_for(idempotency_key)

        def same_message(existing: bytes) -> bool:
            first = message_from_bytes(existing)
            return all(first[h] == mime[h] for h in ("Message-ID", "To", "Subject"))

        outcome = await asyncio.to_thread(write_once, path, bytes(mime), same_message)
        detail: dict[str, object] = {"transport": "outbox", "path": str(path)}
        if outcome == "kept":  # sent before under this key: the first file stands
            detail["deduplicated"] = True
        return DeliveryReceipt(channel="email", message_id=mime["Message-ID"], detail=detail)
