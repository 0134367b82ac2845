"""Mollie payment rows of one tenant, and the deal a payment names (only when it is the tenant's)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm.models import Deal
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.webhooks.mollie.models import Payment


async def take_write_lock(session: AsyncSession) -> None:
    """SQLite: start as a writer so concurrent webhook calls queue for the lock instead of failing on upgrade."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("UPDATE payments SET id = id WHERE 1 = 0"))


async def deal(session: AsyncSession, scope: TenantScope, deal_id: int) -> Deal | None:
    return await session.scalar(select(Deal).where(Deal.id == deal_id, Deal.tenant_id == scope.tenant_id))


async def upsert_payment(session: AsyncSession, scope: TenantScope, provider_payment_id: str,
                         values: dict[str, Any], now: dt.datetime) -> Payment:
    """The tenant's row for this Mollie payment, inserted if new (a concurrent insert of the same payment does
    nothing), read back fresh and set to `values` (status, amount, currency, deal_id, paid_at, metadata_)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    columns = {("metadata" if k == "metadata_" else k): v for k, v in values.items()}
    await session.execute(insert(Payment).values(
        tenant_id=scope.tenant_id, provider="mollie", provider_payment_id=provider_payment_id, created_at=now,
        updated_at=now, **columns,
    ).on_conflict_do_nothing(index_elements=["tenant_id", "provider", "provider_payment_id"]))
    row = await session.scalar(select(Payment).where(
        Payment.tenant_id == scope.tenant_id, Payment.provider == "mollie",
        Payment.provider_payment_id == provider_payment_id).execution_options(populate_existing=True))
    assert row is not None
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now
    await session.flush()
    return row


async def claim_receipt(session: AsyncSession, row: Payment) -> bool:
    """Only one transaction gets to say "received": a concurrent retry waits for the row and then sees it taken."""
    result = await session.execute(update(Payment).where(Payment.id == row.id, Payment.received_event_id.is_(None))
                                   .values(received_event_id=0).execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def paid_total(session: AsyncSession, scope: TenantScope, deal_id: int) -> Decimal:
    total = await session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.tenant_id == scope.tenant_id, Payment.deal_id == deal_id, Payment.status == "paid"))
    return Decimal(str(total))


async def mark_received(session: AsyncSession, row: Payment, event_id: int) -> None:
    await session.execute(update(Payment).where(Payment.id == row.id).values(received_event_id=event_id)
                          .execution_options(synchronize_session=False))
