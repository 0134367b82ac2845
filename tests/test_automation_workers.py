"""Worker processes against the real database: exactly-once steps, SIGKILL, SIGTERM, database outages.

Workers are real `crm workers run` processes importing the recording `notify` handler (tests.engine_plugin).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from rentguy_crm.automation.models import Workflow
from rentguy_crm.db import Database
from tests import engine_plugin
from tests.automation_support import install_workflow, runs_by_status, workflow_doc

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CRM = str(Path(sys.executable).parent / "crm")


class Workers:
    """Start and stop `crm workers run` processes; their output goes to files (never a full pipe)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, lease: float = 30, concurrency: int = 4) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CRM_AUTOMATION_PLUGINS": "tests.engine_plugin"}
        log = open(self.tmp / f"worker-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([CRM, "workers", "run", "--concurrency", str(concurrency), "--lease", str(lease),
                                 "--poll", "0.2", "--no-schedules", *args], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def log(self, index: int) -> str:
        return (self.tmp / f"worker-{index}.log").read_text(errors="replace")

    def stop_all(self) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        return codes


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path)
    yield group
    for proc in group.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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

    from rentguy_crm.automation.models import AutomationRun

    async with db.session() as session:
        for start in range(0, count, 1000):
            await session.execute(insert(AutomationRun), rows[start:start + 1000])


async def _wait_for(db: Database, predicate, within: float) -> dict[str, int]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while True:
        counts = await runs_by_status(db)
        if predicate(counts) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.2)


async def _effect_stats(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        total = await session.scalar(text("SELECT count(*) FROM test_step_effects"))
        distinct = await session.scalar(text("SELECT count(*) FROM (SELECT DISTINCT run_id, step "
                                             "FROM test_step_effects) d"))
    return int(total or 0), int(distinct or 0)


RECORD = {"type": "notify", "template": "record"}


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
    counts = await _wait_for(db, lambda c: c.get("succeeded", 0) == count, within=90)
    codes = workers.stop_all()
    assert counts == {"succeeded": count}, (counts, workers.log(0)[-2000:])
    assert codes == [0, 0, 0]
    assert await _effect_stats(db) == (2 * count, 2 * count)
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM activities")) == 2 * count
        pids = (await session.execute(text("SELECT DISTINCT pid FROM test_step_effects"))).all()
    assert len(pids) == 3  # all three processes took part


async def test_run_of_a_sigkilled_worker_finishes_once_on_another_worker_after_the_lease(  # type: ignore[no-untyped-def]
        db, factory, workers, effects) -> None:
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[RECORD, {"type": "notify", "template": "slow-4000"}]))
    await _bulk_runs(db, wf, 1)
    victim = workers.start(lease=2)
    await _wait_for(db, lambda c: c.get("running") == 1, within=20)
    await asyncio.sleep(1.0)  # inside the slow step
    victim.kill()
    victim.wait()
    killed_at = time.monotonic()
    workers.start(lease=2)
    counts = await _wait_for(db, lambda c: c.get("succeeded") == 1, within=30)
    assert counts == {"succeeded": 1}
    assert time.monotonic() - killed_at < 2 + 4 + 5  # lease + the slow step + process start
    assert await _effect_stats(db) == (2, 2)
    async with db.read_session() as session:
        row = (await session.execute(text("SELECT attempt, step_log FROM crm_automation_runs"))).one()
    assert row.attempt == 2
    workers.stop_all()


async def test_sigterm_lets_the_step_in_flight_finish_releases_the_rest_and_exits_0(  # type: ignore[no-untyped-def]
        db, factory, workers, effects) -> None:
    tenant = await factory.tenant()
    slow = {"type": "notify", "template": "slow-1500"}
    wf = await install_workflow(db, tenant, workflow_doc(steps=[slow, slow, slow]))
    await _bulk_runs(db, wf, 2)
    worker = workers.start(concurrency=2)
    await _wait_for(db, lambda c: c.get("running") == 2, within=20)
    await asyncio.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    counts = await runs_by_status(db)
    assert "running" not in counts and counts.get("queued") == 2, counts
    done_before, _ = await _effect_stats(db)
    assert done_before >= 2  # the steps in flight finished
    async with db.session() as session:
        steps = (await session.execute(text("SELECT current_step FROM crm_automation_runs"))).scalars().all()
        assert await session.scalar(text("SELECT stopped_at IS NOT NULL FROM crm_workers"))
    assert sum(steps) == done_before
    workers.start(concurrency=2)
    assert await _wait_for(db, lambda c: c.get("succeeded") == 2, within=30) == {"succeeded": 2}
    assert await _effect_stats(db) == (6, 6)
    assert workers.stop_all()[-1] == 0


async def test_workers_carry_on_after_the_database_goes_away(db, factory, workers, effects) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[RECORD]))
    workers.start(lease=3)
    await _bulk_runs(db, wf, 50)
    await _wait_for(db, lambda c: c.get("succeeded") == 50, within=30)
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
    counts = await _wait_for(db, lambda c: c.get("succeeded") == 100, within=40)
    assert counts == {"succeeded": 100}, (counts, workers.log(0)[-3000:])
    assert await _effect_stats(db) == (100, 100)
    assert workers.stop_all() == [0]
