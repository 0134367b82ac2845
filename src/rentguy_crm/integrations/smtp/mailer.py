"""`Mailer` over SMTP with aiosmtplib: timeouts, and SMTP replies classified (4xx and connection trouble are
retryable, 5xx permanent)."""

from __future__ import annotations

import aiosmtplib
from pydantic import SecretStr

from rentguy_crm.integrations.base import (
    DeliveryReceipt,
    EmailMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from rentguy_crm.integrations.smtp.message import build_mime
from rentguy_crm.tenants.sections.channels import EmailChannel


class SmtpMailer:
    def __init__(self, config: EmailChannel, password: SecretStr | None = None) -> None:
        if not config.host:
            raise ValueError("email: provider smtp needs a host")
        self.config = config
        self.password = password

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> DeliveryReceipt:
        mime = build_mime(message, idempotency_key=idempotency_key, default_from=self.config.from_address,
                          default_reply_to=self.config.reply_to)
        cfg = self.config
        try:
            await aiosmtplib.send(
                mime, hostname=cfg.host, port=cfg.port, timeout=cfg.timeout_seconds,
                username=cfg.username, password=self.password.get_secret_value() if self.password else None,
                use_tls=cfg.security == "tls", start_tls=True if cfg.security == "starttls" else False,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            error = RetryableDeliveryError if codes and all(400 <= c < 500 for c in codes) else PermanentDeliveryError
            raise error(f"email: recipient refused ({', '.join(map(str, codes))})",
                        status=codes[0] if codes else None) from None
        except aiosmtplib.SMTPResponseException as exc:
            error = RetryableDeliveryError if 400 <= exc.code < 500 else PermanentDeliveryError
            raise error(f"email: server answered {exc.code} {exc.message}", status=exc.code) from None
        except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected,
                TimeoutError, OSError) as exc:
            raise RetryableDeliveryError(f"email: {type(exc).__name__}: {exc}") from None
        except aiosmtplib.SMTPException as exc:
            raise PermanentDeliveryError(f"email: {type(exc).__name__}: {exc}") from None
        return DeliveryReceipt(channel="email", message_id=mime["Message-ID"], detail={"transport": "smtp"})
