"""The body the tenant's Freshdesk automation rule sends (we define it; see docs/escalation.md):
`{"ticket_id": {{ticket.id}}, "status": "{{ticket.status}}"}`. Freshdesk fills `{{ticket.status}}` with the status
name (Open, Pending, Resolved, Closed); the number (2..5) is accepted too."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rentguy_crm.integrations.freshdesk.client import DESK_STATUS
from rentguy_crm.kit.inputs import MAX_ID

STATUS_NUMBERS = {name: number for number, name in DESK_STATUS.items()}


class FreshdeskTicketUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ticket_id: int = Field(ge=1, le=MAX_ID, description="Freshdesk ticket id ({{ticket.id}})")
    status: int = Field(description="Open, Pending, Resolved, Closed, or Freshdesk's number 2..5")

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> int:
        if isinstance(value, bool):
            raise ValueError("give the status name (Open, Pending, Resolved, Closed) or its number 2..5")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, str):
            number = STATUS_NUMBERS.get(value.strip().lower())
            if number is None:
                raise ValueError(f"unknown Freshdesk status {value[:40]!r}; expected Open, Pending, Resolved or "
                                 "Closed")
            return number
        if isinstance(value, int) and value in DESK_STATUS:
            return value
        raise ValueError("give the status name (Open, Pending, Resolved, Closed) or its number 2..5")

    @field_validator("ticket_id", mode="before")
    @classmethod
    def _ticket_id(cls, value: object) -> object:
        # Freshdesk's placeholder may arrive quoted when the rule's JSON puts it in a string.
        return int(value.strip()) if isinstance(value, str) and value.strip().isdigit() else value
