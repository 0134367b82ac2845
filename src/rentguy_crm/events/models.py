"""Outbox rows. The automation engine turns them into runs; nothing is lost if it is down."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, utcnow


class Event(IdMixin, Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_unprocessed", "id", postgresql_where=text("processed_at IS NULL"),
              sqlite_where=text("processed_at IS NULL")),
        Index("ix_events_tenant_type_time", "tenant_id", "type", "occurred_at"),
    )

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(IdType)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
