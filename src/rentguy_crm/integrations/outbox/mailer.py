"""`Mailer` that writes each message to `<var_dir>/outbox/<tenant>/<key>.eml`: what `make run` uses when no SMTP
server is configured, so a newcomer can open the welcome mail a new lead gets."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from rentguy_crm.integrations.base import DeliveryReceipt, EmailMessage
from rentguy_crm.integrations.smtp.message import build_mime


def _write_atomically(path: Path, data: bytes) -> None:
    # One file per idempotency key: a retried step rewrites the same file rather than adding a second mail.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class OutboxMailer:
    def __init__(self, folder: Path, from_address: str, reply_to: str | None = None) -> None:
        self.folder = folder
        self.from_address = from_address
        self.reply_to = reply_to

    def path_for(self, idempotency_key: str) -> Path:
        return self.folder / (re.sub(r"[^A-Za-z0-9_.-]+", "-", idempotency_key).strip("-") + ".eml")

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> DeliveryReceipt:
        mime = build_mime(message, idempotency_key=idempotency_key, default_from=self.from_address,
                          default_reply_to=self.reply_to)
        path = self.path_for(idempotency_key)
        await asyncio.to_thread(_write_atomically, path, bytes(mime))
        return DeliveryReceipt(channel="email", message_id=mime["Message-ID"],
                               detail={"transport": "outbox", "path": str(path)})
