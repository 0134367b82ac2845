"""Support API shapes: `TicketCreate`, the change bodies, `Ticket` (read) and `TicketDetail` (with its timeline)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rentguy_crm.kit.inputs import MultiLine, RecordId, SingleLine
from rentguy_crm.tenants.sections.support import Activity, Priority

Subject = Annotated[str, Field(min_length=1, max_length=300), SingleLine]
Body = Annotated[str, Field(min_length=1, max_length=20000), MultiLine]
OptionalBody = Annotated[str, Field(max_length=20000), MultiLine]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"), SingleLine]

Status = Literal["new", "open", "pending", "resolved", "closed"]
LinkType = Literal["lead", "deal", "run", "alert"]

# Allowed status changes; a closed ticket stays closed (a new question is a new ticket).
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "pending", "resolved", "closed"}),
    "open": frozenset({"pending", "resolved", "closed"}),
    "pending": frozenset({"open", "resolved", "closed"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TicketCreate(_Body):
    subject: Subject
    description: OptionalBody = ""
    activity: Activity
    priority: Priority = "P3"
    kind: Literal["ticket", "incident"] = "ticket"
    requester_contact_id: RecordId | None = Field(default=None, description="A CRM contact of this tenant")
    requester_email: Email | None = Field(default=None, description="A staff user's e-mail (staff requester)")
    runbook_key: str | None = Field(default=None, max_length=16, pattern=r"^\d+(\.\d+)?$")

    @model_validator(mode="after")
    def _one_requester(self) -> TicketCreate:
        if self.requester_contact_id and self.requester_email:
            raise ValueError("give requester_contact_id (a contact) or requester_email (staff), not both")
        return self


class Reply(_Body):
    body: Body


class Assign(_Body):
    user: Email | None = None
    team: str | None = Field(default=None, max_length=40, pattern=r"^[a-z][a-z0-9_]{0,39}$")

    @model_validator(mode="after")
    def _someone(self) -> Assign:
        if not self.user and not self.team:
            raise ValueError("name a user (e-mail) or a team key")
        return self


class StatusChange(_Body):
    status: Status
    note: OptionalBody | None = None
    structural_problem: bool | None = Field(default=None, description="On close: file a bug, tell customer success")


class PriorityChange(_Body):
    priority: Priority


class LinkCreate(_Body):
    type: LinkType
    ref: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")


class RunbookTickCreate(_Body):
    runbook_key: str = Field(max_length=16, pattern=r"^\d+(\.\d+)?$")
    step: int = Field(ge=1, le=100)
    output: OptionalBody = ""


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Ticket(_Read):
    number: int
    ref: str
    kind: str
    subject: str
    description: str
    requester_kind: str
    requester_contact_id: int | None
    requester_email: str | None
    activity: str
    priority: str
    status: str
    queue: list[str]
    accountable_team: str | None
    assignee_user: str | None
    assignee_team: str | None
    escalated_to: str | None
    runbook_key: str | None
    structural_problem: bool
    sla_started_at: dt.datetime | None
    first_response_due_at: dt.datetime | None
    resolution_due_at: dt.datetime | None
    first_responded_at: dt.datetime | None
    pending_since: dt.datetime | None
    paused_seconds: int
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    freshdesk_id: int | None
    vendor_refs: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class TimelineItem(_Read):
    id: int
    kind: str
    author: str
    body: str
    data: dict[str, Any]
    created_at: dt.datetime


class Link(_Read):
    target_type: str
    target_ref: str
    created_at: dt.datetime


class Tick(_Read):
    runbook_key: str
    step_number: int
    ticked_by: str
    ticked_at: dt.datetime
    output: str


class DispatchView(_Read):
    id: int
    action: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    result: dict[str, Any]
    completed_at: dt.datetime | None


class SlaMarkView(_Read):
    target: str
    level: str
    team: str
    priority: str
    at: dt.datetime


class TicketDetail(Ticket):
    timeline: list[TimelineItem]
    links: list[Link]
    runbook_ticks: list[Tick]
    dispatches: list[DispatchView]
    sla_marks: list[SlaMarkView]


class BreachCount(BaseModel):
    team: str
    priority: str
    target: str
    breaches: int
