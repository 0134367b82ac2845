"""The answer of the vendor webhook doors."""

from __future__ import annotations

from pydantic import BaseModel


class WebhookRecorded(BaseModel):
    """202: the event recorded, and whether the desk's handler took it (no handler registered: recorded only)."""

    event_id: int
    event_type: str
    handled: bool
