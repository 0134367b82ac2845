"""The outbox channels of the embedded default write one file per idempotency key: a resend keeps the first file."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from pathlib import Path

from rentguy_crm.integrations.base import EmailMessage
from rentguy_crm.integrations.outbox.mailer import OutboxMailer
from rentguy_crm.integrations.outbox.notifier import OutboxNotifier

KEY = "run:7:step:1"


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def mail(**kw: str) -> EmailMessage:
    values = {"to": "anna@example.nl", "subject": "Welkom", "text": "Hoi Anna", **kw}
    return EmailMessage(**values)  # type: ignore[arg-type]


async def test_a_resent_mail_keeps_the_first_file_and_writes_no_second(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, "Mr. DJ <info@mr-dj.nl>")
    first = await mailer.send(mail(), idempotency_key=KEY)
    written = mailer.path_for(KEY).read_bytes()
    again = await mailer.send(mail(), idempotency_key=KEY)
    assert names(tmp_path) == ["run-7-step-1.eml"]
    assert mailer.path_for(KEY).read_bytes() == written  # not rewritten (its Date is the first send's)
    assert again.message_id == first.message_id and again.detail["deduplicated"] is True
    assert "deduplicated" not in first.detail


async def test_concurrent_sends_of_one_key_leave_one_complete_file(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, "Mr. DJ <info@mr-dj.nl>")
    receipts = await asyncio.gather(*(mailer.send(mail(), idempotency_key=KEY) for _ in range(8)))
    assert names(tmp_path) == ["run-7-step-1.eml"]  # no temporary files left
    assert sum(1 for r in receipts if not r.detail.get("deduplicated")) == 1
    assert message_from_bytes(mailer.path_for(KEY).read_bytes())["To"] == "anna@example.nl"


async def test_a_different_mail_under_a_reused_key_replaces_the_file_left_by_a_reset_database(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, "Mr. DJ <info@mr-dj.nl>")
    await mailer.send(mail(to="old@example.nl"), idempotency_key=KEY)
    receipt = await mailer.send(mail(to="anna@example.nl"), idempotency_key=KEY)
    assert names(tmp_path) == ["run-7-step-1.eml"]
    assert message_from_bytes(mailer.path_for(KEY).read_bytes())["To"] == "anna@example.nl"
    assert "deduplicated" not in receipt.detail


async def test_a_resent_chat_notice_writes_no_second_file(tmp_path: Path) -> None:
    slack = OutboxNotifier(tmp_path, "slack")
    await slack.post("Nieuwe lead", target="#sales", idempotency_key=KEY)
    again = await slack.post("Nieuwe lead", target="#sales", idempotency_key=KEY)
    whatsapp = OutboxNotifier(tmp_path, "whatsapp")
    await whatsapp.send_template("+31612345678", "proposal_reminder", "nl", ["Anna"], idempotency_key=KEY)
    await whatsapp.send_template("+31612345678", "proposal_reminder", "nl", ["Anna"], idempotency_key=KEY)
    assert names(tmp_path) == ["run-7-step-1.slack.json", "run-7-step-1.whatsapp.json"]
    assert again.detail["deduplicated"] is True
