"""What lead capture accepts and answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

EVENT_TYPES = ("bruiloft", "bedrijfsfeest", "verjaardag", "feest", "festival", "anders")
EventType = Literal["bruiloft", "bedrijfsfeest", "verjaardag", "feest", "festival", "anders"]


def _storable(value: str) -> str:
    # Postgres text cannot hold NUL, and lone surrogates cannot be encoded: refuse them as invalid input
    # rather than letting the database fail later.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains characters that are not valid Unicode text") from None
    return value


def Text(max_length: int) -> Any:
    return Annotated[str, Field(max_length=max_length), AfterValidator(_storable)]


class LeadSubmission(BaseModel):
    """The public form and the website backend post this. Unknown fields are refused so typos surface."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tenant: Text(64) | None = None
    first_name: Text(200) | None = None
    last_name: Text(200) | None = None
    email: Text(320) | None = None
    phone: Text(64) | None = None
    event_type: EventType | None = None
    event_date: dt.date | None = None
    guests: int | None = Field(default=None, ge=0, le=100_000)
    venue: Text(300) | None = None
    city: Text(200) | None = None
    budget: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    message: Text(10_000) | None = None
    source: str = Field(default="website_form", pattern=r"^[a-z0-9_]{1,64}$")
    marketing_opt_in: bool = False
    consent_text_version: Text(64) | None = None
    captcha_token: Text(4096) | None = None
    utm_source: Text(200) | None = None
    utm_medium: Text(200) | None = None
    utm_campaign: Text(200) | None = None
    utm_term: Text(200) | None = None
    utm_content: Text(200) | None = None
    website: Text(2000) | None = None  # honeypot: people never see it, bots fill it in
    external_id: Text(200) | None = None


class PublicLeadSubmission(LeadSubmission):
    """The browser form: the tenant is named in the body; `external_id` belongs to the server route."""

    tenant: Text(64)  # type: ignore[valid-type]
    external_id: None = Field(default=None, exclude=True)


class LeadCaptured(BaseModel):
    lead_id: int
    contact_id: int
    status: str
    duplicate: bool
    automation_triggered: bool
