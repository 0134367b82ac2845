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


def _picked(answer: dict[str, Any]) -> tuple[list[str], str | None] | None:
    """The labels a `choice` or `choices` answer picked and the text typed for "Other" (None: not a choice).

    Typeform sends `choice: {label}` or, for "Other", `choice: {other}`; several picks come as
    `choices: {labels: [...], other}`.
    """
    kind = answer.get("type")
    if kind not in ("choice", "choices"):
        return None
    picked = answer.get(kind)
    if not isinstance(picked, dict):
        return [], None
    labels = picked.get("labels") if kind == "choices" else [picked.get("label")]
    other = picked.get("other")
    return ([str(label) for label in labels if label not in (None, "")] if isinstance(labels, list) else [],
            str(other) if other not in (None, "") else None)


def _text(picked: tuple[list[str], str | None]) -> str:
    labels, other = picked
    return ", ".join([*labels, *([other] if other else [])])


def _answer_value(answer: dict[str, Any]) -> Any:
    picked = _picked(answer)
    if picked is not None:
        return _text(picked)
    kind = answer.get("type")
    return answer.get(kind) if isinstance(kind, str) else None


def _event_type(answer: dict[str, Any]) -> tuple[str | None, bool]:
    """The lead's event type from the answer, and whether the answer says more than that type (text typed for
    "Other", a label we have no type for, several picks): then the answer is kept in the message too."""
    picked = _picked(answer)
    if picked is None:
        value = _answer_value(answer)
        if not isinstance(value, str) or not value.strip():
            return None, False
        picked = ([value], None)
    labels, other = picked
    if not labels and not other:
        return None, False
    known = [label.strip().lower() for label in labels if label.strip().lower() in EVENT_TYPES]
    event_type = known[0] if known else "anders"
    return event_type, bool(other) or len(labels) != 1 or not known


def _refs_by_field_id(response: dict[str, Any]) -> dict[str, str]:
    """`definition.fields[]`: field id → ref, for answers that name their question by id only."""
    definition = response.get("definition")
    fields = definition.get("fields") if isinstance(definition, dict) else None
    return {f["id"]: f["ref"] for f in fields if isinstance(f, dict) and isinstance(f.get("id"), str)
            and isinstance(f.get("ref"), str)} if isinstance(fields, list) else {}


def to_submission(payload: dict[str, Any], settings: TypeformSettings) -> dict[str, Any]:
    """The lead fields of a `form_response`, by the tenant's `ref` → field mapping. Unmapped answers, and
    what an event type cannot say (the text typed for "Other", every pick of several), are kept in the
    message so nothing the person wrote is lost."""
    response = payload.get("form_response")
    if not isinstance(response, dict):
        raise ValidationFailed("form_response: missing or not an object",
                               errors=[{"field": "form_response", "message": "missing or not an object"}])
    lead: dict[str, Any] = {"source": settings.source}
    extra: list[str] = []
    refs = _refs_by_field_id(response)
    answers = response.get("answers")
    for answer in answers if isinstance(answers, list) else []:
        if not isinstance(answer, dict):
            continue
        question = answer.get("field")
        question = question if isinstance(question, dict) else {}
        field_id = question.get("id")
        ref = question.get("ref") or (refs.get(field_id) if isinstance(field_id, str) else None)
        value = _answer_value(answer)
        target = settings.fields.get(ref) if isinstance(ref, str) else None
        if target == "event_type":
            value, says_more = _event_type(answer)
            if says_more:
                extra.append(f"{ref}: {_answer_value(answer)}")
        elif target is None:
            if value not in (None, ""):
                extra.append(f"{ref}: {value}")
            continue
        lead[target] = value
    hidden = _object(response.get("hidden"))
    if hidden:
        for key in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
            if isinstance(hidden.get(key), str) and hidden[key]:
                lead[key] = hidden[key]
    if extra:
        lead["message"] = "\n".join(filter(None, [lead.get("message"), *extra]))
    return lead
