"""The Typeform fallback form: signature check and mapping of answers to a lead submission by field `ref`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from rentguy_crm.errors import Unauthorized, ValidationFailed
from rentguy_crm.intake.schemas import EVENT_TYPES
from rentguy_crm.tenants.config import TypeformSettings

SIGNATURE_PREFIX = "sha256="


def signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return SIGNATURE_PREFIX + base64.b64encode(digest).decode()


def check_signature(secret: str, body: bytes, header: str | None) -> None:
    """Typeform signs the raw body: `Typeform-Signature: sha256=<base64 HMAC-SHA256>`. Constant-time compare."""
    if not header:
        raise Unauthorized("The Typeform-Signature header is missing.", headers={})
    if not hmac.compare_digest(signature(secret, body).encode(), header.strip().encode("utf-8", "replace")):
        raise Unauthorized("The Typeform-Signature does not match this body and the tenant's secret.", headers={})


def _object(value: Any) -> dict[str, Any]:
    # The payload is signed but its shape is still input: a wrong type is an empty answer, not a crash.
    return value if isinstance(value, dict) else {}


def _answer_value(answer: dict[str, Any]) -> Any:
    kind = answer.get("type")
    if kind == "choice":
        return _object(answer.get("choice")).get("label")
    if kind == "choices":
        labels = _object(answer.get("choices")).get("labels")
        return ", ".join(str(label) for label in labels) if isinstance(labels, list) else None
    return answer.get(kind) if isinstance(kind, str) else None


def to_submission(payload: dict[str, Any], settings: TypeformSettings) -> dict[str, Any]:
    """The lead fields of a `form_response`, by the tenant's `ref` → field mapping. Unmapped answers are kept
    in the message so nothing the person wrote is lost."""
    response = payload.get("form_response")
    if not isinstance(response, dict):
        raise ValidationFailed("form_response: missing or not an object",
                               errors=[{"field": "form_response", "message": "missing or not an object"}])
    lead: dict[str, Any] = {"source": settings.source}
    extra: list[str] = []
    answers = response.get("answers")
    for answer in answers if isinstance(answers, list) else []:
        if not isinstance(answer, dict):
            continue
        ref = _object(answer.get("field")).get("ref")
        value = _answer_value(answer)
        target = settings.fields.get(ref) if isinstance(ref, str) else None
        if target is None:
            if value not in (None, ""):
                extra.append(f"{ref}: {value}")
            continue
        if target == "event_type" and isinstance(value, str):
            value = value.strip().lower()
            value = value if value in EVENT_TYPES else "anders"
        lead[target] = value
    hidden = _object(response.get("hidden"))
    if hidden:
        for key in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
            if isinstance(hidden.get(key), str) and hidden[key]:
                lead[key] = hidden[key]
    if extra:
        lead["message"] = "\n".join(filter(None, [lead.get("message"), *extra]))
    return lead
