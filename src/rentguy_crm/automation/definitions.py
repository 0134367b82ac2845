"""Workflow definitions as typed models: what `automation/workflows/*.yaml` may say.

The YAML loader with line numbers, the expression language and `crm workflows validate|sync` build on
these models; the run engine executes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rentguy_crm.kit.durations import parse_duration


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Duration = Annotated[dt.timedelta, Field(description="e.g. 90s, 15m, 2h, 2 days")]


def _duration(value: Any) -> dt.timedelta:
    return parse_duration(value)


class RetryPolicy(Strict):
    max_attempts: int = Field(default=5, ge=1, le=50)
    initial_interval: Duration = dt.timedelta(seconds=10)
    backoff_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max_interval: Duration = dt.timedelta(minutes=10)

    _parse = field_validator("initial_interval", "max_interval", mode="before")(_duration)


class Trigger(Strict):
    event: str = Field(min_length=1, description="lead.created, deal.stage.proposal_sent, manual, schedule, ...")
    condition: str | None = Field(
        default=None, description="Expression that must be true, e.g. lead.event_type == 'bruiloft'"
    )


class SendEmail(Strict):
    type: Literal["send_email"]
    name: str | None = None
    template: str
    version: int | None = None
    to: str = "contact"
    marketing: bool = False


class SendWhatsapp(Strict):
    type: Literal["send_whatsapp"]
    name: str | None = None
    template: str
    version: int | None = None


class Notify(Strict):
    type: Literal["notify"]
    name: str | None = None
    channel: Literal["slack", "teams"] = "slack"
    target: str | None = Field(default=None, description="e.g. #mrdj-ops; default: the tenant's ops channel")
    template: str


class CreateTask(Strict):
    type: Literal["create_task"]
    name: str | None = None
    title: str
    team: str | None = None
    owner: str | None = None
    due_in: Duration = dt.timedelta(hours=1)

    _parse = field_validator("due_in", mode="before")(_duration)


class UpdateRecord(Strict):
    type: Literal["update_record"]
    name: str | None = None
    record: Literal["lead", "deal", "contact"] = "lead"
    field: str
    value: Any


class HttpWebhook(Strict):
    type: Literal["http_webhook"]
    name: str | None = None
    url: str
    body_template: str | None = None
    secret: str | None = Field(default=None, description="Secret reference for the HMAC signature")


class Wait(Strict):
    type: Literal["wait"]
    name: str | None = None
    duration: Duration | None = None
    until: str | None = Field(default=None, description="A date field plus an offset, e.g. 'deal.event_date + 1 day'")

    _parse = field_validator("duration", mode="before")(lambda v: None if v is None else parse_duration(v))


class Stop(Strict):
    type: Literal["stop"]
    name: str | None = None
    reason: str | None = None


class Branch(Strict):
    type: Literal["branch"]
    name: str | None = None
    condition: str
    then: list[Step] = Field(default_factory=list)
    otherwise: list[Step] = Field(default_factory=list, alias="else")


Step = Annotated[
    SendEmail | SendWhatsapp | Notify | CreateTask | UpdateRecord | HttpWebhook | Wait | Branch | Stop,
    Field(discriminator="type"),
]
Branch.model_rebuild()

SIDE_EFFECT_STEPS = ("send_email", "send_whatsapp", "notify", "create_task", "update_record", "http_webhook")


class WorkflowDefinition(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name: str
    description: str | None = None
    enabled: bool = True
    triggers: list[Trigger] = Field(min_length=1)
    retry: RetryPolicy = RetryPolicy()
    sla: Duration = dt.timedelta(minutes=15)
    steps: list[Step] = Field(min_length=1)

    _parse = field_validator("sla", mode="before")(_duration)

    def trigger_events(self) -> list[str]:
        return [t.event for t in self.triggers]
