"""The report archive (one row per tenant, kind and period, replaced when a period is generated again) and the
UAT feedback items the monthly retro lists."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin

REPORT_KINDS = ("automation_sla", "retro")


class Report(IdMixin, TimestampMixin, Base):
    """A generated report: its figures (JSON), the charts drawn from them (PNG, base64 by name), the HTML that was
    mailed and the PDF that was attached (NULL with `pdf_error` when WeasyPrint could not run)."""

    __tablename__ = "crm_reports"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "period"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # automation_sla | retro
    period: Mapped[str] = mapped_column(String(16))  # 2026-W48 | 2026-11
    generated_at: Mapped[dt.datetime]
    generated_by: Mapped[str] = mapped_column(String(200))
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    charts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None]
    sent_to: Mapped[list[Any]] = mapped_column(default=list)


class FeedbackItem(IdMixin, Base):
    """One piece of UAT feedback from staff, optionally about a workflow or a template."""

    __tablename__ = "crm_feedback_items"
    __table_args__ = (Index("ix_crm_feedback_items_tenant_id_created_at", "tenant_id", "created_at"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    workflow_key: Mapped[str | None] = mapped_column(String(64))
    template_key: Mapped[str | None] = mapped_column(String(64))
    screen: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
