"""Read shapes and list filters of the audit log API."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, field_validator

from rentguy_crm.kit.inputs import FilterDatetime, Text
from rentguy_crm.kit.pagination import as_utc
from rentguy_crm.kit.rows import without_server_only


class AuditRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    reason: str | None = None

    @field_validator("before", "after")
    @classmethod
    def _shown(cls, values: dict[str, Any] | None) -> dict[str, Any] | None:
        # Snapshots are stored whole (the proof); tenant, consent details and hashes are not shown.
        return without_server_only(values)


@dataclass(frozen=True)
class AuditFilters:
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    after: dt.datetime | None = None
    before: dt.datetime | None = None


def audit_filters(
    entity_type: Annotated[Text | None, Query(description="e.g. contact, lead, deal, activity")] = None,
    entity_id: Annotated[Text | None, Query()] = None,
    action: Annotated[Text | None, Query(description="e.g. deal.stage_changed")] = None,
    after: Annotated[FilterDatetime | None, Query(description="ISO datetime; entries at or after")] = None,
    before: Annotated[FilterDatetime | None, Query(description="ISO datetime; entries before")] = None,
) -> AuditFilters:
    return AuditFilters(entity_type=entity_type, entity_id=entity_id, action=action, after=as_utc(after),
                        before=as_utc(before))
