"""Firing state of the suite's own failure-rate watchdog, one row per tenant, alert and workflow."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin


class WatchdogAlert(IdMixin, TimestampMixin, Base):
    __tablename__ = "crm_watchdog_alerts"
    __table_args__ = (UniqueConstraint("tenant_id", "alert", "workflow_key"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    alert: Mapped[str] = mapped_column(String(64))
    workflow_key: Mapped[str] = mapped_column(String(64))
    firing: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    last_checked_at: Mapped[dt.datetime]
    failure_rate: Mapped[float] = mapped_column(Float, default=0.0)
    finished_runs: Mapped[int] = mapped_column(Integer, default=0)
    failed_runs: Mapped[int] = mapped_column(Integer, default=0)
    # The posts to the ops channel still owed: set when the state flips, cleared once delivered.
    pending_notification: Mapped[str | None] = mapped_column(String(16))
