"""Workflow definitions as typed models: what `automation/workflows/*.yaml` may say.

The YAML loader with line numbers, the expression language and `crm workflows validate|sync` build on
these models; the run engine executes them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rentguy_crm.automation.workflows import expressions
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.kit.durations import parse_duration
from rentguy_crm.kit.markup import Markup
from rentguy_crm.templates.rendering import TemplateProblem, check_syntax, is_template


class Strict(BaseModel):
    # Durations are stored as seconds so a stored definition validates again unchanged (`workflows.definition`).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, ser_json_timedelta="float")


def _template_syntax(value: Any, name: str) -> None:
    if isinstance(value, str) and is_template(value):
        try:
            check_syntax(name, value)
        except TemplateProblem as exc:
            what = "asks too much work" if exc.message.startswith("too much work") else "does not parse"
            raise ValueError(f"'{name}' is a template that {what}: {exc}") from None
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _template_syntax(item, f"{name}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _template_syntax(item, f"{name}.{key}")


class StepModel(Strict):
    """A step type. Its text fields named in `template_fields` are templates (`{{ lead.team }}`), rendered for
    the run's subject when the step runs (`automation/engine/step_fields.py`), each escaped for where the text goes."""

    template_fields: ClassVar[dict[str, Markup]] = {}

    @model_validator(mode="after")
    def _templates_parse(self) -> StepModel:
        for name in self.template_fields:
            _template_syntax(getattr(self, name), name)
        return self


Duration = Annotated[dt.timedelta, Field(description="e.g. 90s, 15m, 2h, 2 days")]


def _duration(value: Any) -> dt.timedelta:
    return parse_duration(value)


def _positive_duration(value: Any) -> dt.timedelta:
    parsed = parse_duration(value)
    if parsed <= dt.timedelta(0):
        raise ValueError(f"'{value}' must be longer than zero")
    return parsed


def _expression(value: Any) -> Any:
    """Conditions and `until` must parse; the message names the column of the mistake."""
    if isinstance(value, str):
        try:
            expressions.check(value)
        except expressions.ExpressionError as exc:
            raise ValueError(f"invalid expression '{value}': {exc}") from None
    return value


TEMPLATE_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")


def _template_key(value: Any) -> Any:
    if isinstance(value, str) and not TEMPLATE_KEY.match(value):
        raise ValueError(f"'{value}' is not a template key: use lowercase letters, digits and dashes, "
                         "e.g. 'lead-welcome'")
    return value


class RetryPolicy(Strict):
    max_attempts: int = Field(default=5, ge=1, le=50)
    initial_interval: Duration = dt.timedelta(seconds=10)
    backoff_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max_interval: Duration = dt.timedelta(minutes=10)

    _parse = field_validator("initial_interval", "max_interval", mode="before")(_positive_duration)

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryPolicy:
        if self.max_interval < self.initial_interval:
            raise ValueError("max_interval must not be shorter than initial_interval")
        return self


class Trigger(Strict):
    event: str = Field(min_length=1, description="lead.created, deal.stage.proposal_sent, manual, schedule, ...")
    condition: str | None = Field(
        default=None, description="Expression that must be true, e.g. lead.event_type == 'bruiloft'"
    )

    _check = field_validator("condition", mode="after")(_expression)

    @field_validator("event", mode="after")
    @classmethod
    def _event_format(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*", value):
            raise ValueError(f"'{value}' is not an event type: use dotted lowercase names like 'lead.created'")
        return value


class SendEmail(StepModel):
    type: Literal["send_email"]
    name: str | None = None
    template: str
    version: int | None = None
    to: str = "contact"
    marketing: bool = False
    template_fields: ClassVar[dict[str, Markup]] = {"to": "header"}

    _template = field_validator("template", mode="after")(_template_key)


class SendWhatsapp(StepModel):
    type: Literal["send_whatsapp"]
    name: str | None = None
    template: str
    version: int | None = None
    marketing: bool = False  # only with consent and never after an objection (crm/optout.py)

    _template = field_validator("template", mode="after")(_template_key)


class Notify(StepModel):
    type: Literal["notify"]
    name: str | None = None
    channel: Literal["slack", "teams"] = "slack"
    target: str | None = Field(default=None, description="e.g. #mrdj-ops; default: the tenant's ops channel")
    template: str
    template_fields: ClassVar[dict[str, Markup]] = {"target": "text"}

    _template = field_validator("template", mode="after")(_template_key)


class CreateTask(StepModel):
    type: Literal["create_task"]
    name: str | None = None
    title: str
    team: str | None = Field(default=None, description="e.g. {{ lead.team }}; default: the lead's team")
    owner: str | None = Field(default=None, description="e.g. {{ deal.owner }}; default: the deal's or lead's owner")
    description: str | None = None
    due_in: Duration = dt.timedelta(hours=1)
    template_fields: ClassVar[dict[str, Markup]] = {"title": "text", "team": "text", "owner": "text",
                                                    "description": "text"}

    _parse = field_validator("due_in", mode="before")(_positive_duration)


class UpdateRecord(StepModel):
    type: Literal["update_record"]
    name: str | None = None
    record: Literal["lead", "deal", "contact"] = "lead"
    field: str
    value: Any
    template_fields: ClassVar[dict[str, Markup]] = {"value": "text"}


class HttpWebhook(StepModel):
    type: Literal["http_webhook"]
    name: str | None = None
    url: str
    body_template: str | None = None
    secret: str | None = Field(default=None, description="Secret reference for the HMAC signature")
    template_fields: ClassVar[dict[str, Markup]] = {"url": "url", "body_template": "json"}


class Wait(StepModel):
    type: Literal["wait"]
    name: str | None = None
    duration: Duration | None = None
    until: str | None = Field(default=None, description="A date field plus an offset, e.g. 'deal.event_date + 1 day'")

    _parse = field_validator("duration", mode="before")(lambda v: None if v is None else _positive_duration(v))
    _check = field_validator("until", mode="after")(_expression)

    @model_validator(mode="after")
    def _one_of_duration_or_until(self) -> Wait:
        if (self.duration is None) == (self.until is None):
            raise ValueError("a wait needs exactly one of 'duration' (e.g. 2 days) or 'until' "
                             "(e.g. deal.event_date + 1 day)")
        return self


class Stop(StepModel):
    type: Literal["stop"]
    name: str | None = None
    reason: str | None = None
    template_fields: ClassVar[dict[str, Markup]] = {"reason": "text"}


class Branch(StepModel):
    type: Literal["branch"]
    name: str | None = None
    condition: str
    then: list[Step] = Field(default_factory=list)
    otherwise: list[Step] = Field(default_factory=list, alias="else")

    _check = field_validator("condition", mode="after")(_expression)


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
    once_per: Literal["change", "subject"] = Field(
        default="change",
        description="change: one run per triggering change (a new lead, a stage move, a payment), however many "
                    "triggers or stage flows lead to it; subject: one run per lead or deal ever (post-event care), "
                    "whatever fires for it later. Manual starts always run.")
    on_new_run: Literal["keep", "supersede"] = Field(
        default="keep",
        description="keep: a new run leaves the workflow's earlier runs for the same lead or deal alone; "
                    "supersede: a new run cancels the earlier ones still queued or waiting (a run executing a step "
                    "finishes that step and stops before its next), so the subject gets the follow-up of its "
                    "latest change only. Manual starts neither supersede nor are superseded.")
    steps: list[Step] = Field(min_length=1)

    _parse = field_validator("sla", mode="before")(_positive_duration)

    def trigger_events(self) -> list[str]:
        return [t.event for t in self.triggers]


_DEFINITIONS: dict[tuple[int, str], WorkflowDefinition] = {}


def definition_of(workflow: Workflow) -> WorkflowDefinition:
    """The parsed definition of a stored version, cached by (id, checksum): versions never change."""
    cache_key = (workflow.id, workflow.checksum)
    definition = _DEFINITIONS.get(cache_key)
    if definition is None:
        definition = WorkflowDefinition.model_validate(workflow.definition)
        _DEFINITIONS[cache_key] = definition
    return definition
