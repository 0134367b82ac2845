"""The MIME message both mailers send: headers from the tenant config, a Message-ID derived from the step's
idempotency key (so a resend is recognisably the same message), List-Unsubscribe on marketing mail, and inline
images (multipart/related, RFC 2387) and attachments (multipart/mixed) when the message carries them."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, parseaddr

from rentguy_crm.integrations.base import EmailMessage, PermanentDeliveryError


def message_id(idempotency_key: str, from_address: str) -> str:
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "rentguy.invalid"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_mime(message: EmailMessage, *, idempotency_key: str, default_from: str,
               default_reply_to: str | None = None) -> MimeMessage:
    sender = message.from_address or default_from
    if not parseaddr(sender)[1] or not parseaddr(message.to)[1] or "@" not in message.to:
        raise PermanentDeliveryError(f"email: not a usable address (from {sender!r}, to {message.to!r})")
    mime = MimeMessage()
    headers: list[tuple[str, str]] = [("From", sender), ("To", message.to), ("Subject", message.subject),
                                      ("Date", formatdate(localtime=False, usegmt=True)),
                                      ("Message-ID", message_id(idempotency_key, sender))]
    reply_to = message.reply_to or default_reply_to
    if reply_to:
        headers.append(("Reply-To", reply_to))
    if message.marketing:
        targets = []
        if message.unsubscribe_url:
            targets.append(f"<{message.unsubscribe_url}>")
        targets.append(f"<mailto:{parseaddr(reply_to or sender)[1]}?subject=unsubscribe>")
        headers.append(("List-Unsubscribe", ", ".join(targets)))
        if message.unsubscribe_url:
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    headers += list(message.headers.items())
    for name, value in headers:
        try:
            mime[name] = value
        except ValueError:
            # A line break in a header value (header injection) is refused by the mail library; the same
            # values fail every time, so the step fails at once. The value itself may be personal data.
            raise PermanentDeliveryError(f"email: the {name} header would contain a line break or control "
                                         "character; fix the record or template it comes from") from None
    mime.set_content(message.text)
    if message.html:
        mime.add_alternative(message.html, subtype="html")
        if message.inline_images:
            parts = mime.get_payload()
            html_part = parts[-1] if isinstance(parts, list) else None
            assert isinstance(html_part, MimeMessage)  # set_content + add_alternative made it multipart
            for image in message.inline_images:
                maintype, _, subtype = image.mime_type.partition("/")
                html_part.add_related(image.data, maintype=maintype, subtype=subtype, cid=f"<{image.cid}>",
                                      disposition="inline", filename=image.filename)
    for attachment in message.attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        mime.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    # Headers are written whole up to RFC 5322's 998 characters: folded at 78, a List-Unsubscribe URL longer
    # than a line became an RFC 2047 encoded word, which mail clients do not read as a link (RFC 2369 §2).
    # The bodies were encoded above under the 78-character policy and stay as they are.
    mime.policy = mime.policy.clone(max_line_length=998)
    return mime
