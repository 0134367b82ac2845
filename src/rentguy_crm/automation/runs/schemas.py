"""Request and response bodies of the automation operations API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rentguy_crm.kit.inputs import RecordId, Text


class RunStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: Text = Field(min_length=1, max_length=64, description="Workflow key, e.g. lead_intake")
    lead_id: RecordId | None = None
    deal_id: RecordId | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> RunStart:
        if (self.lead_id is None) == (self.deal_id is None):
            raise ValueError("give exactly one of lead_id or deal_id")
        return self


class Run(BaseModel):
    id: int
    workflow: str
    version: int
    status: str
    attempt: int
    max_attempts: int
    trigger: str
    lead_id: int | None
    deal_id: int | None
    current_step: int
    created_at: dt.datetime
    run_after: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    duration_ms: int | None
    lease_owner: str | None
    sla_due_at: dt.datetime | None
    sla_breached: bool
    last_error_type: str | None
    last_error_message: str | None


class RunDetail(Run):
    trigger_event_id: int | None
    lease_expires_at: dt.datetime | None
    step_log: list[dict[str, Any]]
    context: dict[str, Any]


class RunPage(BaseModel):
    items: list[Run]
    total: int
    limit: int
    offset: int


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(default=None, max_length=2000)


class WorkflowPauseState(BaseModel):
    tenant: str
    workflow: str
    paused: bool
    paused_at: dt.datetime | None = None
    paused_by: str | None = None
    reason: str | None = None
