"""Alertmanager's webhook payload (version 4), as documented for `webhook_config`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rentguy_crm.kit.inputs import FilterDatetime, Text, TextMap


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: TextMap = Field(min_length=1)
    annotations: TextMap = Field(default_factory=dict)
    startsAt: FilterDatetime  # Alertmanager's field names, as sent
    endsAt: FilterDatetime | None = None  # ("0001-01-01T00:00:00Z" while firing)
    generatorURL: Text = Field(default="", max_length=2000)
    fingerprint: Text = Field(min_length=1, max_length=64)


class AlertmanagerNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: Text = Field(default="", max_length=2000)
    truncatedAlerts: int = Field(default=0, ge=0, le=2**31 - 1)
    status: Literal["firing", "resolved"]
    receiver: Text = Field(max_length=200)
    groupLabels: TextMap = Field(default_factory=dict)
    commonLabels: TextMap = Field(default_factory=dict)
    commonAnnotations: TextMap = Field(default_factory=dict)
    externalURL: Text = Field(default="", max_length=2000)
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=1000)


class AlertsRecorded(BaseModel):
    recorded: int
    event_ids: list[int]
