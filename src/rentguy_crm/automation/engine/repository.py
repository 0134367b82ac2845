"""Queries the engine makes beyond the run log: the stage a deal entered (dispatch), the ticks of scheduled jobs
(`crm_schedule_runs`), the deals whose event date has passed (the `deals.event_completed` job), and what the
built-in steps read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.runs.models import ScheduleRun
from rentguy_crm.automation.runs.queue import bind_time, dialect_of
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, PipelineStage
from rentguy_crm.events.models import Event
from rentguy_crm.tenants.scope import TenantScope


async def stage_of_deal(session: AsyncSession, scope: TenantScope, deal_id: int,
                        stage_key: str | None) -> PipelineStage | None:
    """The stage `stage_key` of the deal's pipeline, or the deal's own stage when no key is given. None when the
    deal is not the tenant's."""
    deal = await session.get(Deal, deal_id)
    if deal is None or deal.tenant_id != scope.tenant_id:
        return None
    if stage_key is None:
        return await session.get(PipelineStage, deal.stage_id)
    return await session.scalar(select(PipelineStage).where(PipelineStage.pipeline_id == deal.pipeline_id,
                                                            PipelineStage.key == stage_key))


# -- scheduled jobs' ticks (not tenants' rows: one tick serves every tenant) -----------------------------------


async def existing_ticks(session: AsyncSession, schedules: Sequence[str],
                         since: dt.datetime) -> set[tuple[str, dt.datetime]]:
    """(schedule, tick_at) of the ticks of these schedules stored at or after `since`."""
    return set((await session.execute(
        select(ScheduleRun.schedule, ScheduleRun.tick_at).where(
            ScheduleRun.schedule.in_(list(schedules)), ScheduleRun.tick_at >= since))).all())


async def insert_ticks(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert ticks; the unique (schedule, tick_at) drops the ones another worker inserted. Returns how many."""
    insert = pg_insert if dialect_of(session) == "postgresql" else sqlite_insert
    result = await session.execute(insert(ScheduleRun).values(rows).on_conflict_do_nothing(
        index_elements=["schedule", "tick_at"]))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def claim_due_tick(session: AsyncSession, owner: str, now: dt.datetime,
                         lease: dt.timedelta) -> tuple[int, str] | None:
    """Claim the oldest due tick under `owner`'s lease (SKIP LOCKED on Postgres): its id and schedule."""
    lock = " FOR UPDATE SKIP LOCKED" if dialect_of(session) == "postgresql" else ""
    row = (await session.execute(
        text("SELECT id, schedule FROM crm_schedule_runs WHERE status IN ('queued', 'running') "
             f"AND run_after <= :now ORDER BY run_after, id LIMIT 1{lock}"), {"now": bind_time(session, now)}
    )).first()
    if row is None:
        return None
    expires = now + lease
    await session.execute(update(ScheduleRun).where(ScheduleRun.id == row.id).values(
        status="running", lease_owner=owner, run_after=expires, started_at=now,
        attempt=ScheduleRun.attempt + 1))
    return row.id, row.schedule


async def finish_tick(session: AsyncSession, tick_id: int, owner: str, values: dict[str, Any]) -> None:
    """Record a tick's outcome if `owner` still holds it."""
    fence = and_(ScheduleRun.id == tick_id, ScheduleRun.lease_owner == owner, ScheduleRun.status == "running")
    await session.execute(update(ScheduleRun).where(fence).values(**values))


# -- deals -------------------------------------------------------------------------------------------------------


async def deals_past_event_without_completion(session: AsyncSession, scope: TenantScope, today: dt.date,
                                              since: dt.date, limit: int) -> list[Any]:
    """The tenant's deals (not lost) whose event date is in [since, today) and that have no `event.completed`
    event yet: id, tenant_id, event_date, lead_id."""
    already = select(Event.id).where(Event.tenant_id == Deal.tenant_id, Event.type == "event.completed",
                                     Event.subject_type == "deal",
                                     Event.subject_id == Deal.id).exists()
    return list((await session.execute(
        select(Deal.id, Deal.tenant_id, Deal.event_date, Deal.lead_id)
        .where(Deal.tenant_id == scope.tenant_id, Deal.event_date < today,
               Deal.event_date >= since, Deal.status != "lost", ~already)
        .order_by(Deal.id).limit(limit))).all())


# -- what the built-in steps read ----------------------------------------------------------------------------------


async def task_by_idempotency_key(session: AsyncSession, key: str) -> Activity | None:
    """The task a `create_task` step made under this key (`run:<id>:step:<n>`, unique to one run and tenant)."""
    return await session.scalar(select(Activity).where(Activity.idempotency_key == key))


async def subject_record(session: AsyncSession, model: type[Lead] | type[Deal] | type[Contact],
                         record_id: int) -> Lead | Deal | Contact | None:
    """The row an `update_record` step changes; the caller checks its tenant."""
    row: Lead | Deal | Contact | None = await session.get(model, record_id)
    return row
