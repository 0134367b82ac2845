"""Read schemas of the workflow API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class WorkflowSummary(BaseModel):
    key: str
    version: int
    name: str
    triggers: list[str] = Field(description="Event types, with ' if <condition>' where a trigger has one")
    sla: str = Field(description="Complete within, e.g. 15m")
    enabled: bool
    checksum: str
    updated_at: dt.datetime | None = Field(default=None, description="When this version was stored")


class WorkflowTrigger(BaseModel):
    event: str
    condition: str | None = None


class RetrySummary(BaseModel):
    max_attempts: int
    initial_interval: str
    backoff_factor: float
    max_interval: str


class ProgramStep(BaseModel):
    step: int = Field(description="Step number: a run's current_step and idempotency key run:<id>:step:<n>")
    op: Literal["step", "branch", "jump"]
    type: str | None
    label: str
    detail: str | None
    next_if_false: int | None = Field(description="branch: where the run goes when the condition is false")
    jump_to: int | None = Field(description="jump: the next step")


class WorkflowDetail(BaseModel):
    key: str
    version: int
    is_current: bool
    versions: list[int]
    name: str
    description: str | None
    enabled: bool
    sla: str
    checksum: str
    triggers: list[WorkflowTrigger]
    retry: RetrySummary
    program: list[ProgramStep]
