"""Request and response shapes of the CRM API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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
