"""`POST /api/v1/webhooks/opsgenie/{tenant}`: Opsgenie's outgoing webhook (alert actions such as Acknowledge and
Close), authenticated by the tenant's shared secret (`channels.opsgenie.webhook_secret`; see docs/escalation.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from rentguy_crm.auth.dependencies import Session
from rentguy_crm.kit.inputs import Text
from rentguy_crm.tenants.sections.channels import ChannelsConfig
from rentguy_crm.webhooks import shared_secret
from rentguy_crm.webhooks.body import parsed
from rentguy_crm.webhooks.opsgenie import service
from rentguy_crm.webhooks.opsgenie.schemas import OpsgenieWebhook
from rentguy_crm.webhooks.schemas import WebhookRecorded

router = APIRouter(tags=["webhooks"])


def _secret(channels: ChannelsConfig) -> str | None:
    return channels.opsgenie.webhook_secret if channels.opsgenie else None


@router.post("/opsgenie/{tenant}", status_code=202, response_model=WebhookRecorded, responses={
    401: {"description": "Missing or wrong webhook secret"},
    404: {"description": "No Opsgenie webhook at this address (unknown tenant or not configured; one answer)"},
    422: {"description": "Not an Opsgenie alert action (names the field)"},
    503: {"description": "The tenant's webhook secret cannot be read now; Opsgenie retries"}},
    summary="Opsgenie outgoing webhook (alert actions)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["action", "alert"], "properties": {
            "action": {"type": "string", "examples": ["Acknowledge", "Close"]},
            "alert": {"type": "object", "required": ["alias"], "properties": {"alias": {"type": "string"}}}}}}}}})
async def opsgenie_webhook(tenant: Annotated[Text, Path(max_length=64, description="Tenant slug, e.g. mrdj")],
                           request: Request, session: Session) -> WebhookRecorded:
    found = await shared_secret.authenticated_tenant(session, request, tenant, "opsgenie", _secret)
    body = await parsed(request, OpsgenieWebhook, "Opsgenie")
    return await service.record(session, found, body)
