"""The variables a run's conditions and steps, and the templates they send, see of the run's subject: its lead,
contact, deal and tenant (the engine adds earlier step outputs).

Values keep their column types (`date`, `Decimal`, `None` for an empty optional field): templates are checked
against samples of exactly these types before they are published (`templates/samples.py`).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm import repository
from rentguy_crm.crm.models import Contact, Deal, Lead, PipelineStage
from rentguy_crm.tenants.models import Tenant

_HIDDEN = {"tenant_id", "submission_hash", "consent"}


def record_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in inspect(obj).mapper.column_attrs:
        if attr.key in _HIDDEN:
            continue
        out[attr.key] = getattr(obj, attr.key)
    return out


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


async def subject_variables(session: AsyncSession, tenant: Tenant, *, lead_id: int | None,
                            deal_id: int | None) -> dict[str, Any]:
    """Reload the subject rows (a step reloads its subject, so it sees what earlier steps changed)."""
    variables: dict[str, Any] = {"tenant": {"id": tenant.id, "slug": tenant.slug, "name": tenant.name,
                                            "timezone": tenant.timezone, "locale": tenant.locale}}
    deal = await repository.subject_row(session, Deal, deal_id) if deal_id else None
    if deal is not None and deal.tenant_id == tenant.id:
        variables["deal"] = record_dict(deal)
        stage = await repository.subject_row(session, PipelineStage, deal.stage_id)
        if stage is not None:
            variables["deal"]["stage"] = stage.key
        if lead_id is None:
            lead_id = deal.lead_id
    lead = await repository.subject_row(session, Lead, lead_id) if lead_id else None
    if lead is not None and lead.tenant_id == tenant.id:
        variables["lead"] = record_dict(lead)
    contact_id = (deal.contact_id if deal is not None else None) or (lead.contact_id if lead is not None else None)
    contact = await repository.subject_row(session, Contact, contact_id) if contact_id else None
    if contact is not None:
        variables["contact"] = record_dict(contact)
    return variables
