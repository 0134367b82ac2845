"""`POST /api/v1/webhooks/freshdesk/{tenant}`: the webhook of the tenant's Freshdesk automation rule (ticket status
changes), authenticated by the tenant's shared secret (`channels.freshdesk.webhook_secret`; see docs/escalation.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from rentguy_crm.auth.dependencies import Session
from rentguy_crm.kit.inputs import Text
from rentguy_crm.tenants.sections.channels import ChannelsConfig
from rentguy_crm.webhooks import shared_secret
from rentguy_crm.webhooks.body import parsed
from rentguy_crm.webhooks.freshdesk import service
from rentguy_crm.webhooks.freshdesk.schemas import FreshdeskTicketUpdate
from rentguy_crm.webhooks.schemas import WebhookRecorded

router = APIRouter(tags=["webhooks"])


def _secret(channels: ChannelsConfig) -> str | None:
    return channels.freshdesk.webhook_secret if channels.freshdesk else None


@router.post("/freshdesk/{tenant}", status_code=202, response_model=WebhookRecorded, responses={
    401: {"description": "Missing or wrong webhook secret"},
    404: {"description": "No Freshdesk webhook at this address (unknown tenant or not configured; one answer)"},
    422: {"description": "No ticket id or an unknown status (names the field)"},
    503: {"description": "The tenant's webhook secret cannot be read now; Freshdesk retries"}},
    summary="Freshdesk automation webhook (ticket status)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["ticket_id", "status"], "properties": {
            "ticket_id": {"type": "integer", "examples": [1042]},
            "status": {"type": "string", "examples": ["Resolved"]}}}}}}})
async def freshdesk_webhook(tenant: Annotated[Text, Path(max_length=64, description="Tenant slug, e.g. mrdj")],
                            request: Request, session: Session) -> WebhookRecorded:
    found = await shared_secret.authenticated_tenant(session, request, tenant, "freshdesk", _secret)
    body = await parsed(request, FreshdeskTicketUpdate, "Freshdesk")
    return await service.record(session, found, body)
