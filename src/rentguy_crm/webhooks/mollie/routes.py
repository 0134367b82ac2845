"""`POST /api/v1/webhooks/mollie/{tenant}`: Mollie's payment webhook (form field `id=tr_…`, no signature).

Mollie's contract: answer 200 once the call is handled, including for ids we do not know (so the webhook is
not considered broken and nothing is revealed). Any other answer makes Mollie call again, up to ten times over
about 26 hours; that is what a Mollie outage or a missing API key gets (503 with Retry-After), so no payment
notice is lost while either is fixed.

The caller is anonymous: an unknown tenant and a tenant without Mollie settings get the same 404, and no answer
names a secret reference or an environment variable; the reason goes to the log, for the operator.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from rentguy_crm.auth.service import vendor_proven_scope
from rentguy_crm.db import Database
from rentguy_crm.errors import NotFound, ServiceUnavailable, UnsupportedMediaType, ValidationFailed
from rentguy_crm.kit import secrets
from rentguy_crm.kit.inputs import Text
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.config import MollieSettings, TenantConfig
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.webhooks.mollie import client, service

log = structlog.get_logger(__name__)
router = APIRouter(tags=["webhooks"])

RETRY_LATER_SECONDS = 60


class MollieNotificationHandled(BaseModel):
    received: bool
    payment_status: str | None = None
    deal_id: int | None = None
    payment_received: bool = False


def _payment_id(content_type: str, body: bytes) -> str:
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Mollie's webhook posts application/x-www-form-urlencoded with the field id.")
    values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get("id") or [""]
    payment_id = values[0].strip()
    if not payment_id or len(payment_id) > 64:
        raise ValidationFailed("id: the Mollie payment id (tr_…) is missing or too long.",
                               errors=[{"field": "id", "message": "give the Mollie payment id, e.g. tr_WDqYK6vllg"}])
    return payment_id


NO_WEBHOOK_HERE = "No Mollie webhook is configured at this address."


async def _tenant_settings(db: Database, slug: str) -> tuple[Tenant, MollieSettings, str]:
    async with db.session() as session:
        tenant = await tenants.find(session, slug)
    settings = TenantConfig.model_validate(tenant.config).payments.mollie if tenant and tenant.config else None
    if tenant is None or settings is None:
        # One answer for both, so the webhook cannot be used to learn which tenants exist.
        log.info("mollie_webhook_not_configured", reason="no tenant" if tenant is None else "no payments.mollie")
        raise NotFound(NO_WEBHOOK_HERE)
    try:
        api_key = secrets.resolve(settings.api_key).get_secret_value()
    except secrets.SecretUnavailable as exc:
        log.warning("mollie_not_configured", tenant=tenant.slug, reason=str(exc))
        raise ServiceUnavailable("The payment cannot be checked with Mollie now; Mollie will call again.",
                                 headers={"Retry-After": str(RETRY_LATER_SECONDS)}) from None
    return tenant, settings, api_key


@router.post("/mollie/{tenant}", response_model=MollieNotificationHandled, responses={
    404: {"description": "No Mollie webhook at this address (unknown tenant or no Mollie settings; one answer)"},
    422: {"description": "No payment id"},
    503: {"description": "Mollie or the tenant's Mollie key is unavailable; Mollie calls again later"}},
    summary="Mollie payment webhook (form field id)",
    # The body is read by hand (Mollie's form, checked before anything else); the document still says what it is.
    openapi_extra={"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["id"],
        "properties": {"id": {"type": "string", "maxLength": 64, "examples": ["tr_WDqYK6vllg"]}}}}}}})
async def mollie_webhook(tenant: Annotated[Text, Path(max_length=64, description="Tenant slug, e.g. mrdj")],
                         request: Request) -> Any:
    payment_id = _payment_id(request.headers.get("content-type", ""), await request.body())
    if not service.PAYMENT_ID.match(payment_id):
        # Orders, subscriptions and refunds have their own ids; this door handles payments only, and answers them
        # before looking at the tenant or its key (nothing to fetch, nothing to reveal).
        log.info("mollie_webhook_not_a_payment", id_prefix=payment_id.split("_")[0][:8])
        return MollieNotificationHandled(received=False)
    db: Database = request.app.state.db
    found, settings, api_key = await _tenant_settings(db, tenant)
    try:
        # Fetched before the transaction starts: no database lock is held while Mollie answers.
        payment = await client.fetch_payment(api_key, payment_id, endpoint=settings.api_endpoint,
                                             read_timeout=settings.timeout_seconds)
    except client.PaymentUnknown:
        log.warning("mollie_payment_unknown", tenant=found.slug, payment_id=payment_id)
        return MollieNotificationHandled(received=False)
    except client.MollieUnavailable as exc:
        retry_after = max(int(exc.retry_after or 0), RETRY_LATER_SECONDS)
        log.warning("mollie_unavailable", tenant=found.slug, payment_id=payment_id, reason=str(exc))
        raise ServiceUnavailable("The payment cannot be checked with Mollie now; Mollie will call again.",
                                 headers={"Retry-After": str(retry_after)}) from None
    async with db.session() as session:
        outcome = await service.record_payment(session, found, vendor_proven_scope(found.id), settings, payment)
    return MollieNotificationHandled(received=True, payment_status=outcome.payment_status, deal_id=outcome.deal_id,
                                     payment_received=outcome.payment_received)
