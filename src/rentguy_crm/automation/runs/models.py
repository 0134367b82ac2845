"""The run log `crm_automation_runs` (which is also the work queue), workflow pauses, workers and schedule ticks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin

RUN_STATUSES = ("queued", "running", "waiting", "succeeded", "failed", "dead", "cancelled")
ACTIVE_RUN_STATUSES = ("queued", "running", "waiting")
FINISHED_RUN_STATUSES = ("succeeded", "failed", "dead", "cancelled")


_ACTIVE = "status IN ('queued', 'waiting', 'running')"
_SLA_OPEN = "NOT sla_breached AND status IN ('queued', 'running', 'waiting', 'failed', 'dead')"


class AutomationRun(IdMixin, TimestampMixin, Base):
    __tablename__ = "crm_automation_runs"
    __table_args__ = (
        # The claim query only ever looks at active runs; the partial index keeps it fast however much
        # finished history the table holds.
        Index("ix_crm_automation_runs_due", "run_after", "id",
              postgresql_where=text(_ACTIVE), sqlite_where=text(_ACTIVE)),
        Index("ix_crm_automation_runs_tenant_workflow_created", "tenant_id", "workflow_key", "created_at"),
        Index("ix_crm_automation_runs_tenant_status", "tenant_id", "status"),
        Index("ix_crm_automation_runs_lead", "lead_id"),
        Index("ix_crm_automation_runs_deal", "deal_id"),
        # The SLA check looks only at runs not yet marked late and not succeeded/cancelled.
        Index("ix_crm_automation_runs_sla_open", "sla_due_at",
              postgresql_where=text(_SLA_OPEN), sqlite_where=text(_SLA_OPEN)),
        # One run per workflow per triggering change (see `dispatch.dedupe_key`); manual runs have no key.
        Index("uq_crm_automation_runs_tenant_id_dedupe_key", "tenant_id", "dedupe_key", unique=True),
    )

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    workflow_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("workflows.id", ondelete="SET NULL"))
    workflow_key: Mapped[str] = mapped_column(String(64))
    workflow_version: Mapped[int] = mapped_column(Integer, default=1)
    trigger_type: Mapped[str] = mapped_column(String(100))
    trigger_event_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("events.id", ondelete="SET NULL"))
    subject_type: Mapped[str] = mapped_column(String(16))  # "lead" or "deal" (or "schedule")
    lead_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("leads.id", ondelete="SET NULL"))
    deal_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("deals.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[dt.datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    duration_ms: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    step_log: Mapped[list[Any]] = mapped_column(default=list)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error_type: Mapped[str | None] = mapped_column(String(200))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    sla_due_at: Mapped[dt.datetime | None]
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    dedupe_key: Mapped[str | None] = mapped_column(String(255))


class WorkflowPause(IdMixin, Base):
    """A paused workflow of a tenant: workers claim none of its runs until it is resumed; new runs still queue."""

    __tablename__ = "crm_workflow_pauses"
    __table_args__ = (UniqueConstraint("tenant_id", "workflow_key"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    workflow_key: Mapped[str] = mapped_column(String(64))
    paused_at: Mapped[dt.datetime]
    paused_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class WorkerRecord(IdMixin, Base):
    """One worker process: registered at start, heartbeat while alive, stopped_at on a clean exit."""

    __tablename__ = "crm_workers"
    __table_args__ = (Index("ix_crm_workers_heartbeat", "heartbeat_at"),)

    name: Mapped[str] = mapped_column(String(200), unique=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]
    stopped_at: Mapped[dt.datetime | None]
    concurrency: Mapped[int] = mapped_column(Integer)
    tenant_filter: Mapped[str | None] = mapped_column(String(64))
    workflow_filter: Mapped[str | None] = mapped_column(String(64))
    runs_done: Mapped[int] = mapped_column(Integer, default=0)


class ScheduleRun(IdMixin, Base):
    """One tick of a scheduled job. The unique (schedule, tick) makes it one run per tick however many workers
    run; workers claim these rows with a lease exactly like automation runs."""

    __tablename__ = "crm_schedule_runs"
    __table_args__ = (
        UniqueConstraint("schedule", "tick_at"),
        Index("ix_crm_schedule_runs_due", "run_after", "id",
              postgresql_where=text("status IN ('queued', 'running')"),
              sqlite_where=text("status IN ('queued', 'running')")),
    )

    schedule: Mapped[str] = mapped_column(String(100))
    tick_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[dt.datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
