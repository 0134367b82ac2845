"""What an Opsgenie webhook call does: record `opsgenie.alert.<action>` (no personal data) and hand alias and
action to the desk's registered handler. Flushes, never commits: the request owns the transaction."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import vendor_proven_scope
from rentguy_crm.events.service import emit
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.webhooks import hooks
from rentguy_crm.webhooks.opsgenie.schemas import OpsgenieWebhook
from rentguy_crm.webhooks.schemas import WebhookRecorded

log = structlog.get_logger(__name__)


async def record(session: AsyncSession, tenant: Tenant, body: OpsgenieWebhook) -> WebhookRecorded:
    event_type = f"opsgenie.alert.{body.action.lower()}"
    event = await emit(session, tenant.id, event_type, subject_type="opsgenie_alert", payload={
        "action": body.action, "alias": body.alert.alias, "alert_id": body.alert.alertId,
        "tiny_id": body.alert.tinyId, "priority": body.alert.priority,
        "source_type": body.source.type if body.source else None})
    handler = hooks.pager_handler()
    if handler is not None:
        await handler(session, vendor_proven_scope(tenant.id), alias=body.alert.alias, action=body.action)
    log.info("opsgenie_webhook_recorded", tenant=tenant.slug, action=body.action, event_id=event.id,
             handled=handler is not None)
    return WebhookRecorded(event_id=event.id, event_type=event_type, handled=handler is not None)
