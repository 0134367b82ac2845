"""The tenant config section `privacy`: retention of leads that never became a deal, which messages are
marketing, and the fiscal retention period of payments (docs/privacy.md)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_KEY = re.compile(r"^[a-z0-9_-]{1,64}$")


class PrivacySettings(BaseModel):
    """`retention_months`: a lead without a deal whose last lead is older than this is anonymised by the daily
    retention run (GDPR art. 5(1)(e), storage limitation). `fiscal_retention_years`: payment amounts and dates are
    kept this long without personal data (Dutch AWR art. 52: 7 years). `marketing_workflows` /
    `marketing_templates`: every message these send is marketing (opt-out and consent apply), besides steps
    marked `marketing: true` in their workflow definition."""

    model_config = ConfigDict(extra="forbid")

    retention_months: int = Field(default=24, ge=1, le=240)
    fiscal_retention_years: int = Field(default=7, ge=1, le=20)
    marketing_workflows: list[str] = Field(default_factory=list)
    marketing_templates: list[str] = Field(default_factory=list)
    contact_email: str | None = Field(default=None, description="Where people send privacy requests")

    @field_validator("marketing_workflows", "marketing_templates")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        bad = [k for k in keys if not _KEY.match(k)]
        if bad:
            raise ValueError(f"workflow and template keys are lower-case words; not valid: {', '.join(bad)}")
        return keys
