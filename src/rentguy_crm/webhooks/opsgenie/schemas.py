"""The part of Opsgenie's outgoing webhook body the desk uses (https://support.atlassian.com/opsgenie/docs/
integrate-opsgenie-with-outgoing-webhooks/): `action` and the alert's `alias`. Everything else Opsgenie sends
(user names, recipients, tags) is ignored and never stored."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rentguy_crm.kit.inputs import Text

# Actions Opsgenie's webhook integration sends (its "Alert actions" list).
ACTIONS = ("Create", "Acknowledge", "UnAcknowledge", "AddNote", "Close", "Delete", "EscalateNext",
           "AssignOwnership", "TakeOwnership", "AddRecipient", "AddTeam", "AddTags", "RemoveTags", "AddResponder",
           "UpdatePriority", "UpdateMessage", "UpdateDescription", "Snooze", "CustomAction", "AddDetails",
           "RemoveDetails")


class OpsgenieAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    alias: Text = Field(min_length=1, max_length=512)
    alertId: Text | None = Field(default=None, max_length=100)
    tinyId: Text | None = Field(default=None, max_length=50)
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None


class OpsgenieSource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Text | None = Field(default=None, max_length=50)


class OpsgenieWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Literal[ACTIONS]  # type: ignore[valid-type]
    alert: OpsgenieAlert
    source: OpsgenieSource | None = None

