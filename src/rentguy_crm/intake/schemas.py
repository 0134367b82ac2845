"""What lead capture accepts and answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from rentguy_crm.kit.inputs import storable_text

EVENT_TYPES = ("bruiloft", "bedrijfsfeest", "verjaardag", "feest", "festival", "anders")
EventType = Literal["bruiloft", "bedrijfsfeest", "verjaardag", "feest", "festival", "anders"]


# The one rule for storable text (no NUL, valid Unicode) lives in kit/inputs.py.
Storable = AfterValidator(storable_text)
Text64 = Annotated[str, Field(max_length=64), Storable]
Text200 = Annotated[str, Field(max_length=200), Storable]
Text300 = Annotated[str, Field(max_length=300), Storable]
Text320 = Annotated[str, Field(max_length=320), Storable]
Text2000 = Annotated[str, Field(max_length=2000), Storable]
Text4096 = Annotated[str, Field(max_length=4096), Storable]
Text10000 = Annotated[str, Field(max_length=10_000), Storable]


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
    message: Text10000 | None = None
    source: str = Field(default="website_form", pattern=r"^[a-z0-9_]{1,64}$")
    marketing_opt_in: bool = False
    consent_text_version: Text64 | None = None
    captcha_token: Text4096 | None = None
    utm_source: Text200 | None = None
    utm_medium: Text200 | None = None
    utm_campaign: Text200 | None = None
    utm_term: Text200 | None = None
    utm_content: Text200 | None = None
    website: Text2000 | None = None  # honeypot: people never see it, bots fill it in
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
