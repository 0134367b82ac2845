"""What the calendar sync remembers: which Outlook event shows which deal, and where each calendar's delta
query stands (Microsoft Graph `@odata.deltaLink`, or the `@odata.nextLink` of a sync cut off between pages)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin


class CalendarEventLink(IdMixin, TimestampMixin, Base):
    """One deal shown as one event. `event_date` is the date the event has in Outlook as last seen or written, so
    a difference with the deal's date is work for the next sync. `status`: `active`, or `removed` once the event
    is gone (deleted by the sync because the deal no longer qualifies, or cancelled in Outlook)."""

    __tablename__ = "crm_calendar_event_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "deal_id"),
        UniqueConstraint("tenant_id", "calendar_owner", "graph_event_id"),
        Index("ix_crm_calendar_event_links_tenant_status", "tenant_id", "status"),
    )

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    deal_id: Mapped[int] = mapped_column(IdType, ForeignKey("deals.id", ondelete="CASCADE"))
    calendar_owner: Mapped[str] = mapped_column(String(320))
    graph_event_id: Mapped[str] = mapped_column(String(512))
    event_date: Mapped[dt.date] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="active")
    outlook_modified_at: Mapped[dt.datetime | None]


class CalendarDeltaState(IdMixin, TimestampMixin, Base):
    """Where the delta query of one calendar stands: `delta_link` after a complete round, `next_link` while a
    round is under way (a sync stopped between pages resumes there instead of starting over)."""

    __tablename__ = "crm_calendar_delta_states"
    __table_args__ = (UniqueConstraint("tenant_id", "calendar_owner"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    calendar_owner: Mapped[str] = mapped_column(String(320))
    delta_link: Mapped[str | None] = mapped_column(Text)
    next_link: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[dt.datetime | None]
