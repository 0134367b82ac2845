"""What a Mollie webhook call does: fetch the payment, record its status, and for a paid payment linked to a
deal mark the deal paid and emit `payment.received` exactly once, however often Mollie calls. Flushes, never
commits: the route owns the transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import structlog
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm.models import Deal
from rentguy_crm.events.service import emit
from rentguy_crm.kit import clock
from rentguy_crm.tenants.config import MollieSettings
from rentguy_crm.tenants.models import Tenant
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


async def _linked_deal(session: AsyncSession, tenant: Tenant, deal_id: int | None) -> Deal | None:
    if deal_id is None:
        return None
    return await session.scalar(select(Deal).where(Deal.id == deal_id, Deal.tenant_id == tenant.id))


async def _upsert(session: AsyncSession, tenant: Tenant, payment: MolliePayment, deal_id: int | None) -> Payment:
    status = payment.status if payment.status in PAYMENT_STATUSES else "open"
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = clock.now()
    await session.execute(insert(Payment).values(
        tenant_id=tenant.id, provider="mollie", provider_payment_id=payment.id, deal_id=deal_id, status=status,
        amount=payment.amount, currency=payment.currency, paid_at=payment.paid_at, metadata=payment.metadata,
        created_at=now, updated_at=now,
    ).on_conflict_do_nothing(index_elements=["tenant_id", "provider", "provider_payment_id"]))
    row = await session.scalar(select(Payment).where(
        Payment.tenant_id == tenant.id, Payment.provider == "mollie", Payment.provider_payment_id == payment.id)
        .execution_options(populate_existing=True))
    assert row is not None
    row.status, row.amount, row.currency, row.deal_id = status, payment.amount, payment.currency, deal_id
    row.paid_at, row.metadata_, row.updated_at = payment.paid_at, payment.metadata, now
    await session.flush()
    return row


async def _claim_receipt(session: AsyncSession, row: Payment) -> bool:
    """Only one transaction gets to say "received": a concurrent retry waits for the row and then sees it taken."""
    result = await session.execute(update(Payment).where(Payment.id == row.id, Payment.received_event_id.is_(None))
                                   .values(received_event_id=0).execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_payment(session: AsyncSession, tenant: Tenant, settings: MollieSettings,
                         payment: MolliePayment) -> Notification:
    if session.get_bind().dialect.name == "sqlite":
        # Start as a writer so concurrent webhook calls queue for the lock instead of failing on upgrade.
        await session.execute(text("UPDATE payments SET id = id WHERE 1 = 0"))
    deal = await _linked_deal(session, tenant, deal_id_from(payment, settings))
    row = await _upsert(session, tenant, payment, deal.id if deal else None)
    if payment.status != "paid":
        log.info("mollie_payment_status", tenant=tenant.slug, payment_id=payment.id, status=payment.status)
        return Notification(payment.status, row.deal_id, False)
    if deal is None:
        log.warning("mollie_payment_without_deal", tenant=tenant.slug, payment_id=payment.id,
                    metadata_field=settings.deal_metadata_field)
        return Notification(payment.status, None, False)
    if not await _claim_receipt(session, row):
        log.info("mollie_payment_already_received", tenant=tenant.slug, payment_id=payment.id)
        return Notification(payment.status, deal.id, False)
    paid_total = await session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.tenant_id == tenant.id, Payment.deal_id == deal.id, Payment.status == "paid"))
    deal.amount_paid = Decimal(str(paid_total))
    deal.paid_at = deal.paid_at or payment.paid_at or clock.now()
    await session.flush()
    event = await emit(session, tenant.id, "payment.received", subject_type="deal", subject_id=deal.id, payload={
        "deal_id": deal.id, "lead_id": deal.lead_id, "provider": "mollie", "payment_id": payment.id,
        "amount": str(payment.amount), "currency": payment.currency,
        "paid_at": payment.paid_at.isoformat() if payment.paid_at else None})
    await session.execute(update(Payment).where(Payment.id == row.id).values(received_event_id=event.id)
                          .execution_options(synchronize_session=False))
    log.info("mollie_payment_received", tenant=tenant.slug, payment_id=payment.id, deal_id=deal.id,
             event_id=event.id)
    return Notification(payment.status, deal.id, True)
