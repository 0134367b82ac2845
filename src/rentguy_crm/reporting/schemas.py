"""API shapes of the report archive and the feedback items."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rentguy_crm.kit.inputs import Text

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TAG_PATTERN = r"^[a-z0-9][a-z0-9_:.-]{0,39}$"


class ReportSummary(BaseModel):
    """One archived report (without its figures)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["automation_sla", "retro"]
    period: str = Field(description="ISO week (2026-W48) or month (2026-11), UTC")
    generated_at: dt.datetime
    generated_by: str
    sent_at: dt.datetime | None
    recipients: int = Field(description="How many recipients it was last sent to")
    has_pdf: bool
    pdf_error: str | None = Field(description="Why the PDF is missing (WeasyPrint or its libraries unavailable)")
    charts: list[str] = Field(description="Chart names: GET /api/v1/reports/{id}/charts/{name} (PNG)")


class ReportDetail(ReportSummary):
    figures: dict[str, Any] = Field(description="The numbers of the report; see docs/reports.md")


class FeedbackCreate(BaseModel):
    """UAT feedback from staff, e.g. {"text": "Welkomstmail komt pas na 5 minuten", "tags": ["uat", "email"],
    "workflow_key": "lead_intake"}."""

    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=20,
                            description="Lower-case labels (a-z, 0-9, _ : . -), at most 20")
    workflow_key: str | None = Field(default=None, pattern=KEY_PATTERN,
                                     description="The workflow the feedback is about (must exist for the tenant)")
    template_key: str | None = Field(default=None, pattern=KEY_PATTERN,
                                     description="The template the feedback is about (must exist for the tenant)")
    screen: Text | None = Field(default=None, max_length=200, description="Where it was noticed, e.g. /leads/42")

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        bad = [t for t in tags if not re.match(TAG_PATTERN, t)]
        if bad:
            raise ValueError(f"tags are lower-case labels (a-z, 0-9, _ : . -, at most 40 characters); "
                             f"not valid: {', '.join(repr(t[:40]) for t in bad[:5])}")
        return list(dict.fromkeys(tags))


class Feedback(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: dt.datetime
    author: str
    text: str
    tags: list[str]
    workflow_key: str | None
    template_key: str | None
    screen: str | None


def summary(report: Any) -> dict[str, Any]:
    return {"id": report.id, "kind": report.kind, "period": report.period, "generated_at": report.generated_at,
            "generated_by": report.generated_by, "sent_at": report.sent_at, "recipients": len(report.sent_to or []),
            "has_pdf": report.pdf is not None, "pdf_error": report.pdf_error,
            "charts": sorted((report.charts or {}).keys())}
