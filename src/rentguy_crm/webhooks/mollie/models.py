"""The payments Mollie told us about, one row per tenant and payment id: the record that makes a webhook retry
or a later status change of the same payment emit `payment.received` at most once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin

PAYMENT_STATUSES = ("open", "pending", "authorized", "paid", "failed", "expired", "canceled")


class Payment(IdMixin, TimestampMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("tenant_id", "provider", "provider_payment_id"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32), default="mollie")
    provider_payment_id: Mapped[str] = mapped_column(String(64))
    deal_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("deals.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[dt.datetime | None]
    # Set in the one transaction that emitted `payment.received` for this payment; never cleared.
    received_event_id: Mapped[int | None] = mapped_column(IdType)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
