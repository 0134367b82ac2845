"""Scheduled jobs: one run per tick however many workers; missed ticks run once; the SLA check."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text

from rentguy_crm.automation.engine import schedules
from rentguy_crm.automation.runs import queue
from rentguy_crm.automation.runs.models import ScheduleRun
from rentguy_crm.events.models import Event
from tests.automation_support import Clock, get_run, install_workflow, queued_run, workflow_doc


@pytest.fixture
async def qdb(db) -> AsyncIterator[queue.QueueDatabase]:  # type: ignore[no-untyped-def]
    database = queue.QueueDatabase(db.url)
    yield database
    await database.dispose()


@pytest.fixture
def only_test_job(monkeypatch):  # type: ignore[no-untyped-def]
    calls: list[dt.datetime] = []

    async def job(session, now):  # type: ignore[no-untyped-def]
        calls.append(now)
        return {"ok": True}

    monkeypatch.setattr(schedules, "_JOBS", {})
    schedules.register_job("test.every_minute", "* * * * *", job)
    return calls


async def test_several_workers_run_each_tick_once(db, qdb, only_test_job) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(dt.datetime(2025, 5, 1, 10, 0, 30, tzinfo=dt.UTC))
    runners = [schedules.ScheduleRunner(qdb, owner=f"w{i}", clock=clock) for i in range(4)]
    for _ in range(3):
        await asyncio.gather(*(r.tick() for r in runners))
        await asyncio.gather(*(r.tick() for r in runners))
        clock.advance(minutes=1)
    assert len(only_test_job) == 3
    async with db.session() as session:
        ticks = (await session.execute(select(ScheduleRun.tick_at, ScheduleRun.status)
                                       .order_by(ScheduleRun.tick_at))).all()
    assert [(t.tick_at.strftime("%H:%M"), t.status) for t in ticks] == [
        ("10:00", "succeeded"), ("10:01", "succeeded"), ("10:02", "succeeded")]


async def test_ticks_missed_while_workers_were_down_run_once(db, qdb, only_test_job) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(dt.datetime(2025, 5, 1, 10, 0, 30, tzinfo=dt.UTC))
    runner = schedules.ScheduleRunner(qdb, owner="w", clock=clock)
    await runner.tick()
    clock.advance(minutes=45)  # every worker down for 45 ticks
    await runner.tick()
    await runner.tick()
    assert len(only_test_job) == 2


def test_a_job_with_a_bad_cron_expression_is_refused() -> None:
    async def job(session, now):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(ValueError, match="not a cron expression"):
        schedules.register_job("bad", "every minute please", job)


async def test_sla_check_marks_late_runs_once_and_emits_one_event_each(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc())
    now = dt.datetime.now(dt.UTC)
    late = await queued_run(db, wf, now=now - dt.timedelta(minutes=20))
    on_time = await queued_run(db, wf, now=now)
    for _ in range(2):
        async with db.session() as session:
            await schedules.mark_sla_breaches(session, now)
    assert (await get_run(db, late.id)).sla_breached is True
    assert (await get_run(db, on_time.id)).sla_breached is False
    async with db.session() as session:
        events = (await session.scalars(select(Event).where(Event.type == "automation.sla_breached"))).all()
    assert [e.payload["run_id"] for e in events] == [late.id]


async def test_event_completed_is_emitted_once_for_deals_whose_event_date_passed(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc("post_event_care", triggers=[{"event": "event.completed"}]))
    today = dt.date.today()
    past = await factory.deal(tenant, event_date=today - dt.timedelta(days=1))
    await factory.deal(tenant, event_date=today + dt.timedelta(days=3))
    now = dt.datetime.now(dt.UTC)
    for _ in range(2):
        async with db.session() as session:
            await schedules.emit_event_completed(session, now)
    async with db.session() as session:
        rows = (await session.execute(text(
            "SELECT workflow_key, deal_id FROM crm_automation_runs ORDER BY id"))).all()
    assert [(r.workflow_key, r.deal_id) for r in rows] == [("post_event_care", past.id)]
