"""The `calendar` section of the tenant config: which deals appear in which shared Outlook calendar, and the
Entra ID app registration (client credentials) the suite signs in with. See docs/calendar.md."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rentguy_crm.kit.secrets import SecretRef

GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class CalendarSettings(BaseModel):
    """Off unless `enabled`; when enabled every connection field is required (a missing one is named)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    directory_id: str | None = Field(default=None, pattern=GUID, description="Entra ID (Azure AD) tenant id")
    client_id: str | None = Field(default=None, pattern=GUID, description="Application (client) id")
    client_secret: SecretRef | None = Field(default=None, description="e.g. vault:crm/mrdj/m365#client_secret")
    calendar_owner: str | None = Field(default=None, min_length=3, max_length=320,
                                       description="User principal name or object id of the shared calendar's "
                                                   "mailbox; its default calendar is used")
    stages: list[str] = Field(default_factory=lambda: ["booked"],
                              description="Stage keys (in any pipeline) whose deals with an event date are gigs")
    days_back: int = Field(default=30, ge=0, le=365, description="Sync window: days before today")
    days_ahead: int = Field(default=730, ge=1, le=1825, description="Sync window: days after today")
    authority_host: str = Field(default="https://login.microsoftonline.com",
                                description="Only to point at a local fake or a sovereign cloud")
    graph_url: str = Field(default="https://graph.microsoft.com/v1.0",
                           description="Only to point at a local fake or a sovereign cloud")
    timeout_seconds: float = Field(default=15, gt=0, le=120)

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> CalendarSettings:
        if self.enabled:
            missing = [name for name in ("directory_id", "client_id", "client_secret", "calendar_owner")
                       if getattr(self, name) is None]
            if missing:
                raise ValueError(f"calendar.enabled needs {', '.join(missing)}")
            if not self.stages:
                raise ValueError("calendar.stages names no stage; list e.g. [\"booked\"]")
        bad = [s for s in self.stages if not re.match(r"^[a-z0-9_]{1,64}$", s)]
        if bad:
            raise ValueError(f"calendar.stages lists stage keys; not valid: {', '.join(bad)}")
        return self
