"""API shapes of templates and their versions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rentguy_crm.kit.inputs import RecordId, SingleLine, StorableJson, Text

Channel = Literal["email", "whatsapp", "slack", "teams"]
Language = Literal["nl", "en"]
VARIABLE = r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$"
# A subject becomes a mail header: one line, no control characters (`kit.inputs`).
Subject = Annotated[str, Field(max_length=500), SingleLine]
Description = Annotated[str, Field(max_length=300), SingleLine]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WhatsappMeta(_Input):
    name: Text = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: Text = Field(min_length=2, max_length=10)
    parameters: list[Text] = Field(default_factory=list, max_length=20)


class TemplateCreate(_Input):
    key: Text = Field(pattern=r"^[a-z][a-z0-9-]{1,63}$")
    channel: Channel
    language: Language = "nl"
    description: Description | None = None
    subject: Subject | None = None
    text_body: Text = Field(min_length=1, max_length=100_000)
    html_body: Text | None = Field(default=None, max_length=500_000)
    variables: list[str] = Field(default_factory=list, max_length=200)
    whatsapp: WhatsappMeta | None = None

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, names: list[str]) -> list[str]:
        import re

        bad = [n for n in names if not re.match(VARIABLE, n) or any(p.startswith("_") for p in n.split("."))]
        if bad:
            raise ValueError(f"variables must be dotted names such as contact.first_name; not valid: {', '.join(bad)}")
        return names


class TemplateUpdate(_Input):
    """Changes to a version. A draft changes in place; a live or archived version yields a new draft."""

    description: Description | None = None
    subject: Subject | None = None
    text_body: Text | None = Field(default=None, min_length=1, max_length=100_000)
    html_body: Text | None = Field(default=None, max_length=500_000)
    variables: list[str] | None = Field(default=None, max_length=200)
    whatsapp: WhatsappMeta | None = None

    _names = field_validator("variables")(
        lambda v: v if v is None else TemplateCreate._variable_names(v))


class PreviewRequest(_Input):
    lead_id: RecordId | None = Field(default=None, description="Render with this lead's real data instead of samples")
    deal_id: RecordId | None = None
    variables: dict[Text, StorableJson] = Field(default_factory=dict, description="Extra or overriding sample values")


class TemplateWarning(BaseModel):
    field: str = Field(description="The part: subject, text_body, html_body or whatsapp.parameters[n]")
    line: int
    name: str = Field(description="The variable that can be empty, e.g. contact.first_name")
    message: str


class TemplateVersion(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    version: int
    status: str
    subject: str | None
    text_body: str
    html_body: str | None
    variables: list[str]
    meta: dict[str, Any]
    checksum: str
    origin: str
    created_by: str
    created_at: dt.datetime
    published_at: dt.datetime | None
    archived_at: dt.datetime | None
    warnings: list[TemplateWarning] = Field(
        default_factory=list, description="Values real records may leave empty that the template prints without "
                                          "a fallback (`| default(...)` or `{% if %}`); publishing is still allowed")


class TemplateSummary(BaseModel):
    id: int
    key: str
    channel: str
    language: str
    description: str | None
    live_version: int | None
    latest_version: int | None
    drafts: int


class Template(TemplateSummary):
    versions: list[TemplateVersion]


class Preview(BaseModel):
    template_id: int
    version: int
    subject: str | None
    text: str
    html: str | None
    whatsapp_parameters: list[str]
    data: Literal["sample", "real"]


class Diff(BaseModel):
    template_id: int
    live_version: int | None
    draft_version: int | None
    changed: bool
    diff: str


class CloneRow(BaseModel):
    key: str
    channel: str
    language: str
    live_version: int | None
    source: str
    action: Literal["create", "update", "unchanged", "conflict"]
    result: str


class CloneReport(BaseModel):
    tenant: str
    source: str
    dry_run: bool
    publish: bool
    rows: list[CloneRow]
    summary: str
    ok: bool


class CloneRequest(_Input):
    from_tenant: Text | None = Field(default=None, max_length=64,
                                     description="Clone from another tenant that shares its templates with yours")
    only: list[Text] = Field(default_factory=list, max_length=200)
    publish: bool = False
    force: bool = False
    dry_run: bool = False
