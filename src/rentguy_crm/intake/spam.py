"""Staff judging a lead: spam, or not spam after all. A lead the form's checks took for spam never started its
automation; marking it "not spam" finishes its capture: `lead.created` with the runs it starts, as the form would
have. A lead whose capture did start it (staff marked a real lead spam, then changed their mind) is not started
again: its customer already had the welcome mail. Flushes, never commits; audited with ids only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import service as crm
from rentguy_crm.crm.models import Lead
from rentguy_crm.errors import Conflict
from rentguy_crm.events import repository as event_log
from rentguy_crm.events import service as events
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.service import tenant_config


async def mark_spam(session: AsyncSession, principal: Principal, lead_id: int) -> Lead:
    """The lead is spam: out of the inbox's open work. Runs it already started are left to finish or be cancelled."""
    lead = await crm.get_lead(session, principal, lead_id)
    if lead.status == "spam":
        return lead
    before = {"status": lead.status, "flags": list(lead.flags or [])}
    lead.status = "spam"
    lead.flags = sorted({*(lead.flags or []), "spam"})
    await session.flush()
    await audit.record(session, actor=principal.actor, action="lead.marked_spam", entity_type="lead",
                       entity_id=lead.id, tenant_id=principal.tenant_id, before=before,
                       after={"status": lead.status, "flags": lead.flags})
    await events.emit(session, principal.tenant_id, "lead.status_changed", subject_type="lead", subject_id=lead.id,
                      payload={"lead_id": lead.id, "from": before["status"], "to": "spam"})
    return lead


async def mark_not_spam(session: AsyncSession, principal: Principal, lead_id: int) -> tuple[Lead, int]:
    """The lead is real: status `new`, and `lead.created` with its runs unless that event was already emitted for
    it (at capture, or by an earlier "not spam"): a lead's automation starts once. Returns the lead and how many
    runs started."""
    lead = await crm.get_lead(session, principal, lead_id)
    if lead.status != "spam":
        raise Conflict(f"Lead {lead.id} is not marked as spam (its status is '{lead.status}').")
    tenant = await tenants.by_scope(session, principal.scope)
    assert tenant is not None  # the principal's own tenant
    config = tenant_config(tenant)
    before = {"status": lead.status, "flags": list(lead.flags or [])}
    lead.status = "new"
    lead.flags = sorted(set(lead.flags or []) - {"spam"})
    await session.flush()
    await audit.record(session, actor=principal.actor, action="lead.marked_not_spam", entity_type="lead",
                       entity_id=lead.id, tenant_id=principal.tenant_id, before=before,
                       after={"status": lead.status, "flags": lead.flags})
    if await event_log.latest_of_subject(session, principal.scope, "lead", lead.id, "lead.created") is not None:
        return lead, 0
    rule_pipeline = config.assignment.for_event_type(lead.event_type).pipeline
    pipeline = rule_pipeline or config.pipeline_for_event_type(lead.event_type).key
    _event, runs = await events.emit_with_runs(
        session, principal.tenant_id, "lead.created", subject_type="lead", subject_id=lead.id, payload={
            "lead_id": lead.id, "contact_id": lead.contact_id, "event_type": lead.event_type,
            "priority": lead.priority, "team": lead.team, "pipeline": pipeline, "source": lead.source,
            "flags": lead.flags, "new_contact": False, "released_from_spam": True,
        })
    return lead, len(runs)
