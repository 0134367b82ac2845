"""Idempotency records: the first response to an `Idempotency-Key`, replayed on a retry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, utcnow


class IdempotencyRecord(IdMixin, Base):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("tenant_id", "scope", "key"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class LeadCaptureTally(IdMixin, Base):
    """Lead-capture outcomes per tenant, route and minute, summed over all API processes.

    Each process counts in memory and adds its counts here every few seconds, so the request path never
    writes a shared hot row; the status page reads the last 15 minutes from this table.
    """

    __tablename__ = "lead_capture_tallies"
    __table_args__ = (UniqueConstraint("tenant", "route", "outcome", "minute"),)

    tenant: Mapped[str] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    minute: Mapped[dt.datetime]
    count: Mapped[int] = mapped_column(Integer, default=0)
