"""Alertmanager's webhook payload (version 4), as documented for `webhook_config`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: dt.datetime  # Alertmanager's field names, as sent
    endsAt: dt.datetime | None = None  # ("0001-01-01T00:00:00Z" while firing)
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)


class AlertmanagerNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = ""
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=1000)


class AlertsRecorded(BaseModel):
    recorded: int
    event_ids: list[int]
