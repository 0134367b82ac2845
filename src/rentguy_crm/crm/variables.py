"""The variables a run's conditions and steps, and the templates they send, see of the run's subject: its lead,
contact, deal and tenant (the engine adds earlier step outputs).

Rows become variables through `kit.rows.public` (no server-only field), keeping their column types (`date`,
`Decimal`, `None` for an empty optional field): templates are checked against samples of exactly these types
before they are published (`templates/samples.py`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm import repository
from rentguy_crm.crm.models import Contact, Deal, Lead, PipelineStage
from rentguy_crm.kit import rows
from rentguy_crm.tenants.models import Tenant


async def subject_variables(session: AsyncSession, tenant: Tenant, *, lead_id: int | None,
                            deal_id: int | None) -> dict[str, Any]:
    """Reload the subject rows (a step reloads its subject, so it sees what earlier steps changed)."""
    variables: dict[str, Any] = {"tenant": {"id": tenant.id, "slug": tenant.slug, "name": tenant.name,
                                            "timezone": tenant.timezone, "locale": tenant.locale}}
    deal = await repository.subject_row(session, Deal, deal_id) if deal_id else None
    if deal is not None and deal.tenant_id == tenant.id:
        variables["deal"] = rows.public(deal)
        stage = await repository.subject_row(session, PipelineStage, deal.stage_id)
        if stage is not None:
            variables["deal"]["stage"] = stage.key
        if lead_id is None:
            lead_id = deal.lead_id
    lead = await repository.subject_row(session, Lead, lead_id) if lead_id else None
    if lead is not None and lead.tenant_id == tenant.id:
        variables["lead"] = rows.public(lead)
    contact_id = (deal.contact_id if deal is not None else None) or (lead.contact_id if lead is not None else None)
    contact = await repository.subject_row(session, Contact, contact_id) if contact_id else None
    if contact is not None:
        variables["contact"] = rows.public(contact)
    return variables
