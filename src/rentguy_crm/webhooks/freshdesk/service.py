"""What a Freshdesk webhook call does: record `freshdesk.ticket.updated` and hand ticket id and status to the
desk's registered handler. Flushes, never commits: the request owns the transaction."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import vendor_proven_scope
from rentguy_crm.events.service import emit
from rentguy_crm.integrations.freshdesk.client import DESK_STATUS
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.webhooks import hooks
from rentguy_crm.webhooks.freshdesk.schemas import FreshdeskTicketUpdate
from rentguy_crm.webhooks.schemas import WebhookRecorded

log = structlog.get_logger(__name__)
EVENT_TYPE = "freshdesk.ticket.updated"


async def record(session: AsyncSession, tenant: Tenant, body: FreshdeskTicketUpdate) -> WebhookRecorded:
    event = await emit(session, tenant.id, EVENT_TYPE, subject_type="freshdesk_ticket", payload={
        "freshdesk_id": body.ticket_id, "status": body.status, "desk_status": DESK_STATUS[body.status]})
    handler = hooks.helpdesk_handler()
    if handler is not None:
        await handler(session, vendor_proven_scope(tenant.id), freshdesk_id=body.ticket_id, status=body.status)
    log.info("freshdesk_webhook_recorded", tenant=tenant.slug, status=body.status, event_id=event.id,
             handled=handler is not None)
    return WebhookRecorded(event_id=event.id, event_type=EVENT_TYPE, handled=handler is not None)
