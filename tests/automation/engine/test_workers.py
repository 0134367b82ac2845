"""Worker processes against the real database: exactly-once steps, SIGKILL, SIGTERM, database outages.

Workers are real `crm workers run` processes importing the recording `notify` handler (tests.engine_plugin).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.db import Database
from tests import engine_plugin
from tests.automation_support import install_workflow, runs_by_status, workflow_doc
from tests.worker_support import HANG, Workers, eventually

pytestmark = pytest.mark.slow

@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path)
    yield group
    group.kill_all()


@pytest.fixture
async def effects(db: Database) -> AsyncIterator[None]:
    async with db.engine.begin() as conn:
        await conn.execute(text(engine_plugin.EFFECTS_DDL))
        await conn.execute(text("DELETE FROM test_step_effects"))
    yield


async def _bulk_runs(db: Database, workflow: Workflow, count: int, max_attempts: int = 5) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [{"tenant_id": workflow.tenant_id, "workflow_id": workflow.id, "workflow_key": workflow.key,
             "workflow_version": workflow.version, "trigger_type": "test", "subject_type": "none",
             "status": "queued", "attempt": 0, "max_attempts": max_attempts, "run_after": now, "current_step": 0,
             "step_log": [], "context": {}, "sla_breached": False, "created_at": now, "updated_at": now}
            for _ in range(count)]
    from sqlalchemy import insert

    from rentguy_crm.automation.runs.models import AutomationRun

    async with db.session() as session:
        for start in range(0, count, 1000):
            await session.execute(insert(AutomationRun), rows[start:start + 1000])


async def _wait_for(db: Database, predicate, what: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return await eventually(lambda: runs_by_status(db), predicate, what=what, interval=0.2)


def _markers(folder: Path) -> Any:
    async def entered() -> int:
        return len([p for p in await asyncio.to_thread(lambda: list(folder.iterdir()))
                    if p.name.startswith("entered-")])
    return entered


async def _effect_stats(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        total = await session.scalar(text("SELECT count(*) FROM test_step_effects"))
        distinct = await session.scalar(text("SELECT count(*) FROM (SELECT DISTINCT run_id, step "
                                             "FROM test_step_effects) d"))
    return int(total or 0), int(distinct or 0)


RECORD = {"type": "notify", "template": "record"}
HOLD = {"type": "notify", "template": "hold"}


async def test_three_worker_processes_execute_every_step_exactly_once(db, factory, workers, effects) -> None:  # type: ignore[no-untyped-def]
    # 3,000 runs on Postgres; SQLite has one writer at a time, so it gets 600 to stay within the time budget.
    count = 3000 if db.dialect == "postgresql" else 600
    tenant = await factory.tenant()
    # create_task steps are group-committed per claimed batch; the recording notify steps go one by one.
    task = {"type": "create_task", "title": "Bel de lead"}
    wf = await install_workflow(db, tenant, workflow_doc(steps=[task, RECORD, RECORD, task]))
    await _bulk_runs(db, wf, count)
    for _ in range(3):
        workers.start(concurrency=8 if db.dialect == "postgresql" else 2)
    counts = await _wait_for(db, lambda c: c.get("succeeded", 0) == count, what=f"{count} runs to succeed")
    codes = workers.stop_all()
    assert counts == {"succeeded": count}, (counts, workers.log(0)[-2000:])
    assert codes == [0, 0, 0]
    assert await _effect_stats(db) == (2 * count, 2 * count)
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM activities")) == 2 * count
        pids = (await session.execute(text("SELECT DISTINCT pid FROM test_step_effects"))).all()
    assert len(pids) == 3  # all three processes took part


async def test_run_of_a_sigkilled_worker_finishes_once_on_another_worker_after_the_lease(  # type: ignore[no-untyped-def]
        db, factory, workers, effects, tmp_path) -> None:
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[RECORD, HOLD]))
    await _bulk_runs(db, wf, 1)
    victim = workers.start(lease=2, env={engine_plugin.HOLD_DIR_ENV: str(tmp_path)})
    await eventually(_markers(tmp_path), lambda n: n == 1, what="the worker to be inside the second step")
    victim.kill()
    victim.wait()
    workers.start(lease=2)  # without the hold folder its step records at once
    counts = await _wait_for(db, lambda c: c.get("succeeded") == 1, what="the run to succeed on the second worker")
    assert counts == {"succeeded": 1}
    assert await _effect_stats(db) == (2, 2)
    async with db.read_session() as session:
        row = (await session.execute(text("SELECT attempt, step_log FROM crm_automation_runs"))).one()
    assert row.attempt == 2
    step_log = json.loads(row.step_log) if isinstance(row.step_log, str) else row.step_log
    assert [(e["step"], e["status"], e["attempt"]) for e in step_log] == [
        (0, "started", 1), (0, "done", 1), (1, "started", 1), (1, "started", 2), (1, "done", 2)]
    assert workers.stop_all()[-1] == 0


async def test_sigterm_lets_the_step_in_flight_finish_releases_the_rest_and_exits_0(  # type: ignore[no-untyped-def]
        db, factory, workers, effects, tmp_path) -> None:
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[HOLD, HOLD, HOLD]))
    await _bulk_runs(db, wf, 2)
    worker = workers.start(concurrency=2, env={engine_plugin.HOLD_DIR_ENV: str(tmp_path)})
    # SQLite has one writer at a time: there only one step can be inside its transaction.
    in_flight = 2 if db.dialect == "postgresql" else 1
    await eventually(_markers(tmp_path), lambda n: n == in_flight, what="steps in flight")
    worker.send_signal(signal.SIGTERM)
    (tmp_path / "release").write_text("")
    assert worker.wait(timeout=HANG) == 0
    counts = await runs_by_status(db)
    assert "running" not in counts and counts.get("queued") == 2, counts
    done_before, _ = await _effect_stats(db)
    assert done_before >= in_flight  # the steps in flight finished
    async with db.session() as session:
        steps = (await session.execute(text("SELECT current_step FROM crm_automation_runs"))).scalars().all()
        assert await session.scalar(text("SELECT stopped_at IS NOT NULL FROM crm_workers"))
    assert sum(steps) == done_before
    workers.start(concurrency=2)
    assert await _wait_for(db, lambda c: c.get("succeeded") == 2, what="both runs to succeed") == {"succeeded": 2}
    assert await _effect_stats(db) == (6, 6)
    assert workers.stop_all()[-1] == 0


async def test_workers_carry_on_after_the_database_goes_away(db, factory, workers, effects) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[RECORD]))
    workers.start(lease=3)
    await _bulk_runs(db, wf, 50)
    await _wait_for(db, lambda c: c.get("succeeded") == 50, what="the first 50 runs")
    if db.dialect == "postgresql":
        # Cut every connection of the workers, repeatedly, for ~3 s (what a database restart looks like to them).
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
                await conn.commit()
            await asyncio.sleep(0.3)
        await db.engine.dispose()  # our own pooled connections were cut too
    else:
        import sqlite3

        from sqlalchemy.engine import make_url

        locker = sqlite3.connect(make_url(db.url).database, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        await asyncio.sleep(3)
        locker.execute("ROLLBACK")
        locker.close()
    await _bulk_runs(db, wf, 50)
    counts = await _wait_for(db, lambda c: c.get("succeeded") == 100, what="all 100 runs after the outage")
    assert counts == {"succeeded": 100}, (counts, workers.log(0)[-3000:])
    assert await _effect_stats(db) == (100, 100)
    assert workers.stop_all() == [0]
