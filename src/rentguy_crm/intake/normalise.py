"""Turn a submission into the canonical lead: trimmed text, lower-case e-mail, E.164 phone, required fields."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from rentguy_crm.crm.contact_details import normalise_email, normalise_phone
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.intake.schemas import LeadSubmission

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Submission fields that are columns of the lead (names, e-mail and phone are the contact's).
LEAD_COLUMNS = ("source", "event_type", "event_date", "guests", "venue", "city", "budget", "message")


@dataclass
class NormalisedLead:
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    event_type: str | None
    event_date: dt.date | None
    guests: int | None
    venue: str | None
    city: str | None
    budget: Decimal | None
    message: str | None
    source: str
    marketing_opt_in: bool
    consent_text_version: str | None
    external_id: str | None
    utm: dict[str, str] = field(default_factory=dict)
    # The submission's fields that were in the body (null included): an update by `external_id` changes
    # only these. Not part of the fingerprint.
    sent: frozenset[str] = field(default_factory=frozenset)

    def fingerprint(self, tenant_id: int) -> str:
        """Hash of what the person submitted; equal bodies within the double-click window are one lead."""
        # Shallow field copy (asdict would deep-copy): the same JSON, so hashes stored earlier still match.
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sent"}
        data["tenant_id"] = tenant_id
        raw = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()


    def sent_lead_values(self, utm: dict[str, str]) -> dict[str, Any]:
        """The lead columns this submission sets when it updates a stored lead: only the fields it sent.
        `utm` is the stored lead's; sent `utm_*` fields replace their own key (null removes it)."""
        values = {name: getattr(self, name) for name in LEAD_COLUMNS if name in self.sent}
        sent_utm = [name for name in UTM_FIELDS if name in self.sent]
        if sent_utm:
            merged = dict(utm)
            for name in sent_utm:
                key = name.removeprefix("utm_")
                if key in self.utm:
                    merged[key] = self.utm[key]
                else:
                    merged.pop(key, None)
            values["utm"] = merged
        return values


def _identity_errors(name: bool, reachable: bool) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if not reachable:
        errors.append({"field": "email", "message": "give an e-mail address or a phone number", "type": "missing"})
    if not name:
        errors.append({"field": "first_name", "message": "give a first or last name", "type": "missing"})
    return errors


def _refuse(errors: list[dict[str, Any]]) -> None:
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


def require_identity(lead: NormalisedLead) -> None:
    """A new lead needs a name and a way to reach the person; an update by `external_id` does not, so a
    submission with an `external_id` is checked here once the service knows the lead is new."""
    _refuse(_identity_errors(bool(lead.first_name or lead.last_name), bool(lead.email or lead.phone)))


def _blank_to_none(value: str | None) -> str | None:
    return value if value else None


def normalise(submission: LeadSubmission) -> NormalisedLead:
    """Validate across fields and canonicalise. Raises ValidationFailed naming every bad field."""
    errors: list[dict[str, Any]] = []
    email = phone = None
    if submission.email:
        try:
            email = normalise_email(submission.email)
        except ValueError as exc:
            errors.append({"field": "email", "message": str(exc), "type": "value_error"})
    if submission.phone:
        try:
            phone = normalise_phone(submission.phone)
        except ValueError as exc:
            errors.append({"field": "phone", "message": f"'{submission.phone[:40]}' {exc}", "type": "value_error"})
    if not submission.external_id:
        errors += _identity_errors(bool(submission.first_name or submission.last_name),
                                   bool(submission.email or submission.phone))
    _refuse(errors)
    utm = {name.removeprefix("utm_"): value for name in UTM_FIELDS if (value := getattr(submission, name))}
    return NormalisedLead(
        first_name=submission.first_name or "",
        last_name=submission.last_name or "",
        email=email,
        phone=phone,
        event_type=submission.event_type,
        event_date=submission.event_date,
        guests=submission.guests,
        venue=_blank_to_none(submission.venue),
        city=_blank_to_none(submission.city),
        budget=submission.budget,
        message=_blank_to_none(submission.message),
        source=submission.source,
        marketing_opt_in=submission.marketing_opt_in,
        consent_text_version=submission.consent_text_version,
        external_id=_blank_to_none(submission.external_id),
        utm=utm,
        sent=frozenset(submission.model_fields_set),
    )
