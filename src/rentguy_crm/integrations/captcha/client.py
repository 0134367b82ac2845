"""Captcha verification against the siteverify endpoint that hCaptcha, Turnstile and reCAPTCHA share.

All three take a form post of `secret`, `response` and `remoteip` and answer `{"success": bool,
"error-codes": [...]}`; only the URL differs.
"""

from __future__ import annotations

import enum

import httpx
import structlog

from rentguy_crm.tenants.config import CaptchaSettings

log = structlog.get_logger(__name__)


class CaptchaVerdict(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"


async def verify(settings: CaptchaSettings, token: str, remote_ip: str | None) -> CaptchaVerdict:
    secret = settings.resolve()
    if secret is None:
        # A verifier is configured but its secret is missing: treat like an outage so the tenant's
        # policy decides, and say so in the log.
        log.warning("captcha_secret_missing", provider=settings.provider, source=settings.describe())
        return CaptchaVerdict.UNAVAILABLE
    data = {"secret": secret.get_secret_value(), "response": token}
    if remote_ip:
        data["remoteip"] = remote_ip
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_seconds) as client:
            response = await client.post(settings.url, data=data)
        if response.status_code >= 500 or response.status_code == 429:
            raise httpx.HTTPStatusError("verifier error", request=response.request, response=response)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("captcha_verifier_unavailable", provider=settings.provider, error=type(exc).__name__)
        return CaptchaVerdict.UNAVAILABLE
    if isinstance(body, dict) and body.get("success") is True:
        return CaptchaVerdict.ACCEPTED
    return CaptchaVerdict.REJECTED
