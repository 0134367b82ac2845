"""Periodic work declared with cron expressions, run by the same workers: one run per tick, however many workers.

Each worker inserts the latest due tick of every job with the unique (schedule, tick_at) refusing duplicates,
then claims due ticks under a lease like runs. Only the latest tick is inserted, so ticks missed while every
worker was down collapse into one run when they come back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from croniter import croniter
from sqlalchemy import and_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.runs.models import AutomationRun, ScheduleRun
from rentguy_crm.automation.runs.queue import bind_time, dialect_of
from rentguy_crm.db import Database
from rentguy_crm.kit import clock as kit_clock
from rentguy_crm.kit import wallclock
from rentguy_crm.observability import metrics

log = structlog.get_logger(__name__)

JobFn = Callable[[AsyncSession, dt.datetime], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    cron: str
    fn: JobFn

    def latest_tick(self, now: dt.datetime) -> dt.datetime:
        tick = croniter(self.cron, now).get_prev(dt.datetime)
        return tick if tick.tzinfo else tick.replace(tzinfo=dt.UTC)


_JOBS: dict[str, ScheduledJob] = {}


def register_job(name: str, cron: str, fn: JobFn) -> ScheduledJob:
    """Declare periodic work, e.g. `register_job("ratelimit.profile_revert", "* * * * *", revert_due)`.

    `fn(session, now)` runs in the tick's transaction (do not commit); it may return a small dict for the log.
    """
    if not croniter.is_valid(cron):
        raise ValueError(f"'{cron}' is not a cron expression (job {name})")
    job = ScheduledJob(name, cron, fn)
    _JOBS[name] = job
    return job


def scheduled_job(name: str, cron: str) -> Callable[[JobFn], JobFn]:
    def decorator(fn: JobFn) -> JobFn:
        register_job(name, cron, fn)
        return fn

    return decorator


def jobs() -> dict[str, ScheduledJob]:
    return dict(_JOBS)


async def enqueue_due_ticks(session: AsyncSession, now: dt.datetime) -> int:
    """Insert the latest due tick of every job; the unique constraint drops the ones another worker inserted."""
    if not _JOBS:
        return 0
    rows = [{"schedule": job.name, "tick_at": job.latest_tick(now), "status": "queued", "attempt": 0,
             "run_after": job.latest_tick(now), "result": {}, "created_at": now} for job in _JOBS.values()]
    # Skip ticks that exist already (the usual case) without touching the unique index.
    existing = set((await session.execute(
        select(ScheduleRun.schedule, ScheduleRun.tick_at).where(
            ScheduleRun.schedule.in_([r["schedule"] for r in rows]),
            ScheduleRun.tick_at >= min(job.latest_tick(now) for job in _JOBS.values())))).all())
    fresh = [r for r in rows if (r["schedule"], r["tick_at"]) not in existing]
    if not fresh:
        return 0
    insert = pg_insert if dialect_of(session) == "postgresql" else sqlite_insert
    result = await session.execute(insert(ScheduleRun).values(fresh).on_conflict_do_nothing(
        index_elements=["schedule", "tick_at"]))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class ScheduleRunner:
    def __init__(self, db: Database, *, owner: str, clock: Callable[[], dt.datetime] = kit_clock.now,
                 lease: dt.timedelta = dt.timedelta(seconds=60)) -> None:
        self.db = db
        self.owner = owner
        self.clock = clock
        self.lease = lease

    async def tick(self) -> int:
        """Enqueue due ticks and run the claimable ones. Returns how many ran here."""
        now = self.clock()
        async with self.db.session() as session:
            await enqueue_due_ticks(session, now)
        ran = 0
        while True:
            claimed = await self._claim_one()
            if claimed is None:
                return ran
            await self._run(*claimed)
            ran += 1

    async def _claim_one(self) -> tuple[int, str] | None:
        now = self.clock()
        async with self.db.session() as session:
            lock = " FOR UPDATE SKIP LOCKED" if dialect_of(session) == "postgresql" else ""
            names = list(_JOBS)
            if not names:
                return None
            row = (await session.execute(
                text("SELECT id, schedule FROM crm_schedule_runs WHERE status IN ('queued', 'running') "
                     f"AND run_after <= :now ORDER BY run_after, id LIMIT 1{lock}"), {"now": bind_time(session, now)}
            )).first()
            if row is None:
                return None
            expires = now + self.lease
            await session.execute(update(ScheduleRun).where(ScheduleRun.id == row.id).values(
                status="running", lease_owner=self.owner, run_after=expires, started_at=now,
                attempt=ScheduleRun.attempt + 1))
            return row.id, row.schedule

    async def _run(self, tick_id: int, name: str) -> None:
        job = _JOBS.get(name)
        now = self.clock()
        fence = and_(ScheduleRun.id == tick_id, ScheduleRun.lease_owner == self.owner,
                     ScheduleRun.status == "running")
        try:
            if job is None:
                raise LookupError(f"no job named {name} is registered in this worker")
            async with self.db.session() as session:
                result = await job.fn(session, now)
                await session.execute(update(ScheduleRun).where(fence).values(
                    status="succeeded", completed_at=self.clock(), result=result or {}, lease_owner=None))
        except Exception as exc:
            log.warning("scheduled_job_failed", job=name, error=str(exc)[:300])
            # A failed tick is not retried: the next tick does the same work again.
            async with self.db.session() as session:
                await session.execute(update(ScheduleRun).where(fence).values(
                    status="failed", completed_at=self.clock(), last_error_message=str(exc)[:2000],
                    lease_owner=None))


# -- built-in jobs ---------------------------------------------------------------------------------------------


@scheduled_job("automation.sla_check", "* * * * *")
async def mark_sla_breaches(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """Runs past their SLA and not complete are marked breached, with one `automation.sla_breached` event each."""
    from rentguy_crm.events.service import emit
    from rentguy_crm.tenants.models import Tenant

    rows = (await session.execute(
        select(AutomationRun.id, AutomationRun.tenant_id, AutomationRun.workflow_key, AutomationRun.lead_id,
               AutomationRun.deal_id, AutomationRun.status, AutomationRun.sla_due_at)
        .where(AutomationRun.sla_breached.is_(False), AutomationRun.sla_due_at < now,
               AutomationRun.status.in_(("queued", "running", "waiting", "failed", "dead")))
        .order_by(AutomationRun.id).limit(1000))).all()
    slugs: dict[int, str] = {}
    for row in rows:
        marked = await session.execute(update(AutomationRun).where(AutomationRun.id == row.id,
                                                                   AutomationRun.sla_breached.is_(False))
                                       .values(sla_breached=True).execution_options(synchronize_session=False))
        if not marked.rowcount:  # type: ignore[attr-defined]
            continue
        await emit(session, row.tenant_id, "automation.sla_breached", subject_type="run", subject_id=row.id,
                   payload={"run_id": row.id, "workflow": row.workflow_key, "status": row.status,
                            "lead_id": row.lead_id, "deal_id": row.deal_id,
                            "sla_due_at": row.sla_due_at.isoformat() if row.sla_due_at else None})
        if row.tenant_id not in slugs:
            slugs[row.tenant_id] = await session.scalar(select(Tenant.slug).where(Tenant.id == row.tenant_id)) or ""
        metrics.automation_sla_breaches_total.labels(slugs[row.tenant_id], row.workflow_key).inc()
    return {"breached": len(rows)}


@scheduled_job("deals.event_completed", "0 6 * * *")
async def emit_event_completed(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """`event.completed` once for each deal whose event date has passed in its tenant's time zone (looks back 30
    days). Workflows it starts that already ran for the deal (post-event care, started when the deal was moved to
    `completed`) do not start again: see `dispatch.dedupe_key`."""
    from rentguy_crm.crm.models import Deal
    from rentguy_crm.events.models import Event
    from rentguy_crm.events.service import emit
    from rentguy_crm.tenants.models import Tenant

    already = select(Event.id).where(Event.tenant_id == Deal.tenant_id, Event.type == "event.completed",
                                     Event.subject_type == "deal",
                                     Event.subject_id == Deal.id).exists()
    emitted = 0
    for tenant_id, timezone in (await session.execute(select(Tenant.id, Tenant.timezone).order_by(Tenant.id))).all():
        # "Has passed" is the tenant's calendar: at 06:00 UTC it is still yesterday west of Greenwich.
        today = wallclock.local_date(now, timezone)
        deals = (await session.execute(
            select(Deal.id, Deal.tenant_id, Deal.event_date, Deal.lead_id)
            .where(Deal.tenant_id == tenant_id, Deal.event_date < today,
                   Deal.event_date >= today - dt.timedelta(days=30), Deal.status != "lost", ~already)
            .order_by(Deal.id).limit(1000))).all()
        for deal in deals:
            await emit(session, deal.tenant_id, "event.completed", subject_type="deal", subject_id=deal.id,
                       payload={"deal_id": deal.id, "lead_id": deal.lead_id,
                                "event_date": deal.event_date.isoformat()})
        emitted += len(deals)
    return {"emitted": emitted}
