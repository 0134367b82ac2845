"""What a Mollie webhook call does: fetch the payment, record its status, and for a paid payment linked to a
deal mark the deal paid and emit `payment.received` exactly once, however often Mollie calls. Flushes, never
commits: the route owns the transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm.models import Deal
from rentguy_crm.events.service import emit
from rentguy_crm.kit import clock
from rentguy_crm.tenants.config import MollieSettings
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.webhooks.mollie import repository
from rentguy_crm.webhooks.mollie.client import MolliePayment
from rentguy_crm.webhooks.mollie.models import PAYMENT_STATUSES, Payment

log = structlog.get_logger(__name__)

PAYMENT_ID = re.compile(r"^tr_[A-Za-z0-9]{1,60}$")


@dataclass(frozen=True)
class Notification:
    """What the webhook answers Mollie (always 200 once the payment is known or known to be unknown)."""

    payment_status: str | None
    deal_id: int | None
    payment_received: bool


def deal_id_from(payment: MolliePayment, settings: MollieSettings) -> int | None:
    raw = payment.metadata.get(settings.deal_metadata_field)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw > 0 else None
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip()) or None
    return None


async def _linked_deal(session: AsyncSession, scope: TenantScope, deal_id: int | None) -> Deal | None:
    return None if deal_id is None else await repository.deal(session, scope, deal_id)


async def _upsert(session: AsyncSession, scope: TenantScope, payment: MolliePayment, deal_id: int | None) -> Payment:
    status = payment.status if payment.status in PAYMENT_STATUSES else "open"
    return await repository.upsert_payment(session, scope, payment.id, {
        "deal_id": deal_id, "status": status, "amount": payment.amount, "currency": payment.currency,
        "paid_at": payment.paid_at, "metadata_": payment.metadata}, clock.now())


async def record_payment(session: AsyncSession, tenant: Tenant, scope: TenantScope, settings: MollieSettings,
                         payment: MolliePayment) -> Notification:
    """`scope`: the tenant's, proven by fetching the payment back from Mollie with the tenant's own key."""
    await repository.take_write_lock(session)
    deal = await _linked_deal(session, scope, deal_id_from(payment, settings))
    row = await _upsert(session, scope, payment, deal.id if deal else None)
    if payment.status != "paid":
        log.info("mollie_payment_status", tenant=tenant.slug, payment_id=payment.id, status=payment.status)
        return Notification(payment.status, row.deal_id, False)
    if deal is None:
        log.warning("mollie_payment_without_deal", tenant=tenant.slug, payment_id=payment.id,
                    metadata_field=settings.deal_metadata_field)
        return Notification(payment.status, None, False)
    if not await repository.claim_receipt(session, row):
        log.info("mollie_payment_already_received", tenant=tenant.slug, payment_id=payment.id)
        return Notification(payment.status, deal.id, False)
    deal.amount_paid = await repository.paid_total(session, scope, deal.id)
    deal.paid_at = deal.paid_at or payment.paid_at or clock.now()
    await session.flush()
    event = await emit(session, tenant.id, "payment.received", subject_type="deal", subject_id=deal.id, payload={
        "deal_id": deal.id, "lead_id": deal.lead_id, "provider": "mollie", "payment_id": payment.id,
        "amount": str(payment.amount), "currency": payment.currency,
        "paid_at": payment.paid_at.isoformat() if payment.paid_at else None})
    await repository.mark_received(session, row, event.id)
    log.info("mollie_payment_received", tenant=tenant.slug, payment_id=payment.id, deal_id=deal.id,
             event_id=event.id)
    return Notification(payment.status, deal.id, True)
