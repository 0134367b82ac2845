"""Canonical e-mail addresses and phone numbers, so every door into the CRM dedupes on the same value."""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

from rentguy_crm.kit.inputs import SingleLine

DEFAULT_PHONE_REGION = "NL"


def normalise_email(raw: str) -> str:
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return result.normalized.lower()


def normalise_phone(raw: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164, with Dutch numbers written the Dutch way understood: `06 12345678` → `+31612345678`."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number (examples: 06 12345678, +31 20 123 4567)") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number (examples: 06 12345678, +31 20 123 4567)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


PhoneNumber = Annotated[str, Field(max_length=40), SingleLine, AfterValidator(normalise_phone)]
EmailAddress = Annotated[str, Field(max_length=320), SingleLine, AfterValidator(normalise_email)]
