"""What lead capture accepts and answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from rentguy_crm.kit.inputs import MultiLine, SingleLine

EVENT_TYPES = ("bruiloft", "bedrijfsfeest", "verjaardag", "feest", "festival", "anders")
EventType = Literal["bruiloft", "bedrijfsfeest", "verjaardag", "feest", "festival", "anders"]


# Single-line fields (names, e-mail, phone, city, ids...) refuse control characters and line breaks; the
# message keeps its line breaks (see `kit.inputs`).
Text64 = Annotated[str, Field(max_length=64), SingleLine]
Text200 = Annotated[str, Field(max_length=200), SingleLine]
Text300 = Annotated[str, Field(max_length=300), SingleLine]
Text320 = Annotated[str, Field(max_length=320), SingleLine]
Text4096 = Annotated[str, Field(max_length=4096), SingleLine]
Body10000 = Annotated[str, Field(max_length=10_000), MultiLine]
# The honeypot is never stored; it is checked only so that hashing the request body cannot fail.
Honeypot = Annotated[str, Field(max_length=2000), MultiLine]


class LeadSubmission(BaseModel):
    """The public form and the website backend post this. Unknown fields are refused so typos surface."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tenant: Text64 | None = None
    first_name: Text200 | None = None
    last_name: Text200 | None = None
    email: Text320 | None = None
    phone: Text64 | None = None
    event_type: EventType | None = None
    event_date: dt.date | None = None
    guests: int | None = Field(default=None, ge=0, le=100_000)
    venue: Text300 | None = None
    city: Text200 | None = None
    budget: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    message: Body10000 | None = None
    source: str = Field(default="website_form", pattern=r"^[a-z0-9_]{1,64}$")
    marketing_opt_in: bool = False
    consent_text_version: Text64 | None = None
    captcha_token: Text4096 | None = None
    utm_source: Text200 | None = None
    utm_medium: Text200 | None = None
    utm_campaign: Text200 | None = None
    utm_term: Text200 | None = None
    utm_content: Text200 | None = None
    website: Honeypot | None = None  # honeypot: people never see it, bots fill it in
    external_id: Text200 | None = None


class PublicLeadSubmission(LeadSubmission):
    """The browser form: the tenant is named in the body; `external_id` belongs to the server route."""

    tenant: Text64
    external_id: None = Field(default=None, exclude=True)


class LeadCaptured(BaseModel):
    lead_id: int
    contact_id: int
    status: str
    duplicate: bool
    automation_triggered: bool
