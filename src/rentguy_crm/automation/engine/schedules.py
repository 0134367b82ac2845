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
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine import repository
from rentguy_crm.automation.runs import repository as runs_repository
from rentguy_crm.db import Database
from rentguy_crm.events.service import emit
from rentguy_crm.kit import clock as kit_clock
from rentguy_crm.kit import wallclock
from rentguy_crm.observability import jobs as observability_jobs
from rentguy_crm.observability import metrics
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import AllTenants, TenantScope

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
    rows: list[dict[str, Any]] = [
        {"schedule": job.name, "tick_at": job.latest_tick(now), "status": "queued", "attempt": 0,
             "run_after": job.latest_tick(now), "result": {}, "created_at": now} for job in _JOBS.values()]
    # Skip ticks that exist already (the usual case) without touching the unique index.
    existing = await repository.existing_ticks(session, [r["schedule"] for r in rows],
                                               min(job.latest_tick(now) for job in _JOBS.values()))
    fresh = [r for r in rows if (r["schedule"], r["tick_at"]) not in existing]
    if not fresh:
        return 0
    return await repository.insert_ticks(session, fresh)


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
            if not _JOBS:
                return None
            return await repository.claim_due_tick(session, self.owner, now, self.lease)

    async def _run(self, tick_id: int, name: str) -> None:
        job = _JOBS.get(name)
        now = self.clock()
        try:
            if job is None:
                raise LookupError(f"no job named {name} is registered in this worker")
            async with self.db.session() as session:
                result = await job.fn(session, now)
                await repository.finish_tick(session, tick_id, self.owner, {
                    "status": "succeeded", "completed_at": self.clock(), "result": result or {}, "lease_owner": None})
        except Exception as exc:
            log.warning("scheduled_job_failed", job=name, error=str(exc)[:300])
            # A failed tick is not retried: the next tick does the same work again.
            async with self.db.session() as session:
                await repository.finish_tick(session, tick_id, self.owner, {
                    "status": "failed", "completed_at": self.clock(), "last_error_message": str(exc)[:2000],
                    "lease_owner": None})


# -- built-in jobs ---------------------------------------------------------------------------------------------


@scheduled_job("automation.sla_check", "* * * * *")
async def mark_sla_breaches(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """Runs past their SLA and not complete are marked breached, with one `automation.sla_breached` event each."""
    rows = await runs_repository.overdue_unmarked(session, AllTenants(), now,
                                                  ("queued", "running", "waiting", "failed", "dead"), 1000)
    slugs: dict[int, str] = {}
    for row in rows:
        if not await runs_repository.mark_breached(session, row.id):
            continue
        await emit(session, row.tenant_id, "automation.sla_breached", subject_type="run", subject_id=row.id,
                   payload={"run_id": row.id, "workflow": row.workflow_key, "status": row.status,
                            "lead_id": row.lead_id, "deal_id": row.deal_id,
                            "sla_due_at": row.sla_due_at.isoformat() if row.sla_due_at else None})
        if row.tenant_id not in slugs:
            slugs[row.tenant_id] = await tenants.slug_of(session, row.tenant_id) or ""
        metrics.automation_sla_breaches_total.labels(slugs[row.tenant_id], row.workflow_key).inc()
    return {"breached": len(rows)}


@scheduled_job("deals.event_completed", "0 6 * * *")
async def emit_event_completed(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """`event.completed` once for each deal whose event date has passed in its tenant's time zone (looks back 30
    days). Workflows it starts that already ran for the deal (post-event care, started when the deal was moved to
    `completed`) do not start again: see `dispatch.dedupe_key`."""
    emitted = 0
    for tenant_id, timezone in await tenants.ids_and_timezones(session):
        # "Has passed" is the tenant's calendar: at 06:00 UTC it is still yesterday west of Greenwich.
        today = wallclock.local_date(now, timezone)
        deals = await repository.deals_past_event_without_completion(
            session, TenantScope(tenant_id), today, today - dt.timedelta(days=30), 1000)
        for deal in deals:
            await emit(session, deal.tenant_id, "event.completed", subject_type="deal", subject_id=deal.id,
                       payload={"deal_id": deal.id, "lead_id": deal.lead_id,
                                "event_date": deal.event_date.isoformat()})
        emitted += len(deals)
    return {"emitted": emitted}


# The failure-rate watchdog of tenants without Prometheus: observability declares it, the scheduler runs it.
register_job(observability_jobs.WATCHDOG_JOB, observability_jobs.WATCHDOG_CRON,
             observability_jobs.failure_rate_watchdog)
