"""Request and response shapes of the CRM API: `XCreate`, `XUpdate` (all optional), `X` (read), list filters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from rentguy_crm.crm.contact_details import EmailAddress, PhoneNumber
from rentguy_crm.crm.contact_search import ContactSearch, contact_search
from rentguy_crm.kit.inputs import FilterDatetime, MultiLine, RecordId, SingleLine, Text, UtcDatetime
from rentguy_crm.kit.pagination import as_utc

LeadStatus = Literal["new", "contacted", "qualified", "converted", "lost", "spam"]
Priority = Literal["low", "normal", "medium", "high"]
ActivityKind = Literal["note", "task"]
ActivityStatus = Literal["open", "done", "cancelled"]
DealStatus = Literal["open", "won", "lost"]
# Quantized on the way in, so responses and audit entries show what the database stores.
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2),
                  AfterValidator(lambda value: value.quantize(Decimal("0.01")))]
Key = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
# Names, titles, owners, ids: one line without control characters; bodies keep line breaks (`kit.inputs`).
Line64 = Annotated[str, Field(max_length=64), SingleLine]
Line200 = Annotated[str, Field(max_length=200), SingleLine]
Line300 = Annotated[str, Field(max_length=300), SingleLine]
Title = Annotated[str, Field(min_length=1, max_length=300), SingleLine]
Body10000 = Annotated[str, Field(max_length=10_000), MultiLine]
Body20000 = Annotated[str, Field(max_length=20_000), MultiLine]


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class WriteModel(BaseModel):
    """Bodies refuse unknown fields, so a typo is a 422 naming the field instead of a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UpdateModel(WriteModel):
    """PATCH bodies: every field optional; only the fields sent are changed.

    Columns that cannot be empty are listed in `required_columns`: sending `null` for them is a 422.
    """

    required_columns: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required_columns(self) -> UpdateModel:
        nulled = sorted(name for name in self.model_fields_set & self.required_columns if getattr(self, name) is None)
        if nulled:
            raise ValueError(f"may not be null: {', '.join(nulled)}")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


# ---- pipelines (read only; provisioned from the tenant config) ----

class Stage(ReadModel):
    id: int
    key: str
    name: str
    position: int
    automation_flow: str | None
    outcome: str | None


class Pipeline(ReadModel):
    id: int
    key: str
    name: str
    vertical: str
    event_types: list[str]
    stages: list[Stage] = []


# ---- contacts ----

class ContactCreate(WriteModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "first_name": "Anna", "last_name": "de Vries", "email": "anna@example.nl", "phone": "+31612345678",
        "company": None, "marketing_opt_in": False, "owner": "sales@mr-dj.nl",
    }]})

    first_name: Line200 = ""
    last_name: Line200 = ""
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    company: Line200 | None = None
    marketing_opt_in: bool = False
    owner: Line200 | None = None

    @model_validator(mode="after")
    def _identifiable(self) -> ContactCreate:
        if not (self.first_name or self.last_name or self.email or self.phone):
            raise ValueError("give at least a name, an email or a phone number")
        return self


class ContactUpdate(UpdateModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "+31687654321", "owner": "lisa@mr-dj.nl"}]})
    required_columns = frozenset({"first_name", "last_name", "marketing_opt_in"})

    first_name: Line200 | None = None
    last_name: Line200 | None = None
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    company: Line200 | None = None
    marketing_opt_in: bool | None = None
    owner: Line200 | None = None
    # Why: required when operations correct a contact (kept in the audit entry, not on the contact).
    reason: Line300 | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"reason"})


class Contact(ReadModel):
    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    company: str | None
    marketing_opt_in: bool
    owner: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- leads ----

class LeadCreate(WriteModel):
    """A lead entered by staff for a known contact. Website leads come in through the public intake route."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "contact_id": 1, "event_type": "bruiloft", "event_date": "2026-06-20", "guests": 120,
        "venue": "Kasteel de Haar", "city": "Utrecht", "budget": "2500.00", "message": "Graag een offerte.",
        "source": "phone",
    }]})

    contact_id: RecordId
    source: Line64 = "manual"
    external_id: Line200 | None = None
    status: LeadStatus = "new"
    event_type: Annotated[str, Field(max_length=32), SingleLine] | None = None
    event_date: dt.date | None = None
    guests: int | None = Field(default=None, ge=0, le=100_000)
    venue: Line300 | None = None
    city: Line200 | None = None
    budget: Money | None = None
    message: Body10000 | None = None
    priority: Priority | None = Field(default=None, description="Default: from the tenant's assignment rules")
    team: Line64 | None = Field(default=None, description="Default: from the assignment rules")
    owner: Line200 | None = None


class LeadUpdate(UpdateModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "contacted", "owner": "lisa@mr-dj.nl"}]})
    required_columns = frozenset({"status", "priority"})

    status: LeadStatus | None = None
    event_type: Annotated[str, Field(max_length=32), SingleLine] | None = None
    event_date: dt.date | None = None
    guests: int | None = Field(default=None, ge=0, le=100_000)
    venue: Line300 | None = None
    city: Line200 | None = None
    budget: Money | None = None
    message: Body10000 | None = None
    priority: Priority | None = None
    team: Line64 | None = None
    owner: Line200 | None = None


class Lead(ReadModel):
    id: int
    contact_id: int
    external_id: str | None
    status: str
    source: str
    event_type: str | None
    event_date: dt.date | None
    guests: int | None
    venue: str | None
    city: str | None
    budget: Decimal | None
    message: str | None
    priority: str
    team: str | None
    owner: str | None
    flags: list[Any]
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- deals ----

class DealCreate(WriteModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "contact_id": 1, "lead_id": 1, "pipeline": "wedding", "stage": "new", "title": "Bruiloft Anna & Tom",
        "value": "2450.00", "owner": "lisa@mr-dj.nl", "event_date": "2026-06-20",
    }]})

    contact_id: RecordId | None = Field(default=None, description="Default: the contact of `lead_id`")
    lead_id: RecordId | None = None
    pipeline: Key = Field(description="Pipeline key, e.g. wedding")
    stage: Key | None = Field(default=None, description="Stage key; default: the pipeline's first stage")
    title: Title
    value: Money | None = None
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    owner: Line200 | None = None
    event_date: dt.date | None = None

    @model_validator(mode="after")
    def _has_contact(self) -> DealCreate:
        if self.contact_id is None and self.lead_id is None:
            raise ValueError("give a contact_id or a lead_id")
        return self


class DealUpdate(UpdateModel):
    """Changes a deal's fields; its stage moves only through `POST /deals/{id}/stage`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"value": "2750.00", "owner": "lisa@mr-dj.nl"}]})
    required_columns = frozenset({"title", "currency"})

    title: Title | None = None
    value: Money | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    owner: Line200 | None = None
    event_date: dt.date | None = None


class StageMove(WriteModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"stage": "proposal_sent"}]})

    stage: Key = Field(description="Key of a stage in the deal's own pipeline")


class Deal(ReadModel):
    id: int
    contact_id: int
    lead_id: int | None
    pipeline: str
    stage: str
    pipeline_id: int
    stage_id: int
    title: str
    value: Decimal | None
    currency: str
    owner: str | None
    event_date: dt.date | None
    status: str
    stage_changed_at: dt.datetime | None
    paid_at: dt.datetime | None = None
    amount_paid: Decimal | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- activities ----

class ActivityCreate(WriteModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "task", "title": "Bel Anna terug over de offerte", "due_at": "2026-03-02T10:00:00+01:00",
        "owner": "lisa@mr-dj.nl", "team": "wedding_specialists", "deal_id": 1,
    }]})

    kind: ActivityKind = "note"
    title: Title
    body: Body20000 | None = None
    due_at: UtcDatetime | None = None
    owner: Line200 | None = None
    team: Line64 | None = None
    status: ActivityStatus = "open"
    contact_id: RecordId | None = None
    lead_id: RecordId | None = None
    deal_id: RecordId | None = None

    @model_validator(mode="after")
    def _linked(self) -> ActivityCreate:
        if self.contact_id is None and self.lead_id is None and self.deal_id is None:
            raise ValueError("link the activity to a contact_id, lead_id or deal_id")
        return self


class ActivityUpdate(UpdateModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"due_at": "2026-03-03T10:00:00+01:00",
                                                               "status": "done"}]})
    required_columns = frozenset({"title", "status"})

    title: Title | None = None
    body: Body20000 | None = None
    due_at: UtcDatetime | None = None
    owner: Line200 | None = None
    team: Line64 | None = None
    status: ActivityStatus | None = None


class Activity(ReadModel):
    id: int
    kind: str
    title: str
    body: str | None
    due_at: dt.datetime | None
    owner: str | None
    team: str | None
    status: str
    completed_at: dt.datetime | None
    contact_id: int | None
    lead_id: int | None
    deal_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- list filters (query parameters) ----

CreatedAfter = Annotated[FilterDatetime | None,
                         Query(description="ISO datetime; created at or after (UTC if no offset)")]
CreatedBefore = Annotated[FilterDatetime | None, Query(description="ISO datetime; created before (UTC if no offset)")]
LinkedId = Annotated[RecordId | None, Query()]
Owner = Annotated[Text | None, Query(description="Exact owner")]


@dataclass(frozen=True)
class ContactFilters:
    owner: str | None = None
    email: str | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    search: ContactSearch | None = None


def contact_filters(owner: Owner = None,
                    email: Annotated[Text | None, Query(description="Exact e-mail address")] = None,
                    created_after: CreatedAfter = None, created_before: CreatedBefore = None,
                    q: Annotated[Text | None, Query(max_length=200, description=(
                        "Search (at least 3 characters): part of a name or e-mail address, or a phone number "
                        "in any format (06-12345678, +31 6 1234 5678, 0031612345678, or a part of it)"))] = None,
                    ) -> ContactFilters:
    return ContactFilters(owner=owner, email=email.lower() if email else None,
                          created_after=as_utc(created_after), created_before=as_utc(created_before),
                          search=contact_search(q) if q is not None else None)


@dataclass(frozen=True)
class LeadFilters:
    status: str | None = None
    owner: str | None = None
    team: str | None = None
    priority: str | None = None
    event_type: str | None = None
    contact_id: int | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    search: str | None = None  # the contact's name, e-mail address or phone number (any way of writing it)


def lead_filters(status: Annotated[LeadStatus | None, Query()] = None, owner: Owner = None,
                 team: Annotated[Text | None, Query(description="e.g. wedding_specialists")] = None,
                 priority: Annotated[Priority | None, Query()] = None,
                 event_type: Annotated[Text | None, Query()] = None, contact_id: LinkedId = None,
                 created_after: CreatedAfter = None, created_before: CreatedBefore = None,
                 q: Annotated[Text | None, Query(max_length=200, description="Name, e-mail address or phone number "
                                                 "(06 12345678 and +31 6 1234 5678 find the same lead)")] = None,
                 ) -> LeadFilters:
    return LeadFilters(status=status, owner=owner, team=team, priority=priority, event_type=event_type,
                       contact_id=contact_id, created_after=as_utc(created_after),
                       created_before=as_utc(created_before), search=(q or "").strip() or None)


@dataclass(frozen=True)
class DealFilters:
    status: str | None = None
    pipeline: str | None = None
    stage: str | None = None
    owner: str | None = None
    contact_id: int | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def deal_filters(status: Annotated[DealStatus | None, Query()] = None,
                 pipeline: Annotated[Text | None, Query(description="Pipeline key")] = None,
                 stage: Annotated[Text | None, Query(description="Stage key")] = None, owner: Owner = None,
                 contact_id: LinkedId = None,
                 created_after: CreatedAfter = None, created_before: CreatedBefore = None) -> DealFilters:
    return DealFilters(status=status, pipeline=pipeline, stage=stage, owner=owner, contact_id=contact_id,
                       created_after=as_utc(created_after), created_before=as_utc(created_before))


@dataclass(frozen=True)
class ActivityFilters:
    status: str | None = None
    kind: str | None = None
    owner: str | None = None
    team: str | None = None
    due_before: dt.datetime | None = None
    due_after: dt.datetime | None = None
    contact_id: int | None = None
    lead_id: int | None = None
    deal_id: int | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def activity_filters(status: Annotated[ActivityStatus | None, Query()] = None,
                     kind: Annotated[ActivityKind | None, Query()] = None, owner: Owner = None,
                     team: Annotated[Text | None, Query()] = None,
                     due_before: Annotated[FilterDatetime | None, Query(description="ISO datetime; due before")] = None,
                     due_after: Annotated[FilterDatetime | None,
                                          Query(description="ISO datetime; due at or after")] = None,
                     contact_id: LinkedId = None, lead_id: LinkedId = None,
                     deal_id: LinkedId = None,
                     created_after: CreatedAfter = None, created_before: CreatedBefore = None) -> ActivityFilters:
    return ActivityFilters(status=status, kind=kind, owner=owner, team=team, due_before=as_utc(due_before),
                           due_after=as_utc(due_after),
                           contact_id=contact_id, lead_id=lead_id, deal_id=deal_id,
                           created_after=as_utc(created_after), created_before=as_utc(created_before))
