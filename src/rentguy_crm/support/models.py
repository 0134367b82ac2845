"""Support desk rows: tickets and incidents, their timeline, links, runbook ticks, vendor dispatches and SLA marks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import NEVER_REUSED_IDS, Base, IdMixin, IdType, TimestampMixin, utcnow


class Ticket(IdMixin, TimestampMixin, Base):
    """A ticket (a question) or an incident (something is broken; from an alert or opened as such)."""

    __tablename__ = "support_tickets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_support_tickets_tenant_status", "tenant_id", "status"),
        Index("ix_support_tickets_tenant_freshdesk", "tenant_id", "freshdesk_id"), NEVER_REUSED_IDS)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="ticket")  # ticket | incident
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    requester_kind: Mapped[str] = mapped_column(String(16), default="staff")  # contact | staff | system
    requester_contact_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="SET NULL"))
    requester_email: Mapped[str | None] = mapped_column(String(320))
    activity: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), default="new")
    # The Responsible team(s) as ",sales,support," so a queue filter is one LIKE on both databases.
    queue: Mapped[str] = mapped_column(String(400), default="")
    accountable_team: Mapped[str | None] = mapped_column(String(40))
    assignee_user: Mapped[str | None] = mapped_column(String(320))
    assignee_team: Mapped[str | None] = mapped_column(String(40))
    escalated_to: Mapped[str | None] = mapped_column(String(40))
    runbook_key: Mapped[str | None] = mapped_column(String(16))
    structural_problem: Mapped[bool] = mapped_column(default=False)
    # SLA, in working time of the tenant's calendar (support/working_time.py); paused while pending.
    sla_started_at: Mapped[dt.datetime | None]
    first_response_due_at: Mapped[dt.datetime | None]
    resolution_due_at: Mapped[dt.datetime | None]
    first_responded_at: Mapped[dt.datetime | None]
    pending_since: Mapped[dt.datetime | None]
    paused_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    freshdesk_id: Mapped[int | None] = mapped_column(BigInteger)
    # What the vendors answered: pager_alias, pager_request_id, bridge_channel_id, jira_retro_key, jira_bug_key.
    vendor_refs: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TimelineEntry(IdMixin, Base):
    """Public replies, internal notes and every change, in order. `source_event_id` makes alert handling once-only."""

    __tablename__ = "support_timeline"
    __table_args__ = (Index("ix_support_timeline_ticket", "tenant_id", "ticket_id", "id"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("support_tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # reply | note | change
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_event_id: Mapped[int | None] = mapped_column(IdType, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TicketLink(IdMixin, Base):
    __tablename__ = "support_ticket_links"
    __table_args__ = (UniqueConstraint("ticket_id", "target_type", "target_ref"),
                      Index("ix_support_ticket_links_target", "tenant_id", "target_type", "target_ref"))

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("support_tickets.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(String(16))  # lead | deal | run | alert
    target_ref: Mapped[str] = mapped_column(String(100))  # an id, or an alert's fingerprint
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RunbookTick(IdMixin, Base):
    """A ticked runbook step: which runbook (by key, e.g. "2.2"), which step, who, when, and the action's output."""

    __tablename__ = "support_runbook_ticks"
    __table_args__ = (UniqueConstraint("ticket_id", "runbook_key", "step_number"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("support_tickets.id", ondelete="CASCADE"))
    runbook_key: Mapped[str] = mapped_column(String(16))
    step_number: Mapped[int] = mapped_column(Integer)
    ticked_by: Mapped[str] = mapped_column(String(200))
    ticked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    output: Mapped[str] = mapped_column(Text, default="")


class Dispatch(IdMixin, Base):
    """One outbound call for a ticket (a vendor escalation or a team notification), retried until it lands.

    Written in the ticket's transaction, delivered by the `support.dispatch` scheduled job: a vendor that is down
    loses nothing; a vendor that is not configured ends `skipped` with a note on the ticket."""

    __tablename__ = "support_dispatches"
    __table_args__ = (UniqueConstraint("tenant_id", "dedupe_key"),
                      Index("ix_support_dispatches_due", "status", "next_attempt_at"))

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))  # pager.create, bridge.open, helpdesk.create, notify, ...
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | done | skipped | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None]


class SlaMark(IdMixin, Base):
    """An SLA warning (75%) or breach of one ticket's target, with the team and priority it counts against.
    Reports count breaches per team and priority from here (`level = 'breach'`)."""

    __tablename__ = "support_sla_marks"
    __table_args__ = (UniqueConstraint("ticket_id", "target", "level"),
                      Index("ix_support_sla_marks_tenant_level", "tenant_id", "level", "at"))

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(IdType, ForeignKey("support_tickets.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))  # first_response | resolution
    level: Mapped[str] = mapped_column(String(8))  # warning | breach
    team: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(2))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
