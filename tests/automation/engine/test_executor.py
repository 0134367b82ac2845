"""The run engine in-process: steps, step log, retries, dead runs, pause, waits, fencing, leases."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text, update

from rentguy_crm.automation.engine import step_registry
from rentguy_crm.automation.engine.executor import RunExecutor, retry_delay
from rentguy_crm.automation.runs import queue, service
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows.definitions import RetryPolicy
from rentguy_crm.crm.models import Activity
from rentguy_crm.tenants.scope import TenantScope
from tests import engine_plugin
from tests.automation_support import Clock, get_run, install_workflow, queued_run, run_due, workflow_doc
from tests.worker_support import HANG, eventually


@pytest.fixture
async def qdb(db) -> AsyncIterator[queue.QueueDatabase]:  # type: ignore[no-untyped-def]
    database = queue.QueueDatabase(db.url)
    yield database
    await database.dispose()


@pytest.fixture
async def recording(db, monkeypatch) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """The test `notify` handler that counts executions in test_step_effects."""
    monkeypatch.setitem(step_registry._HANDLERS, "notify", engine_plugin.recording_notify)
    async with db.engine.begin() as conn:
        await conn.execute(text(engine_plugin.EFFECTS_DDL))
        await conn.execute(text("DELETE FROM test_step_effects"))
    yield


async def _effects(db) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM test_step_effects")) or 0)


RECORD = {"type": "notify", "template": "record"}


async def test_run_executes_its_steps_in_order_and_logs_each_outcome(db, qdb, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    lead = await factory.lead(tenant, team="wedding_specialists")
    wf = await install_workflow(db, tenant, workflow_doc(steps=[
        {"type": "create_task", "name": "call", "title": "Bel de lead", "due_in": "1h"},
        {"type": "update_record", "record": "lead", "field": "status", "value": "contacted"},
    ]))
    run = await queued_run(db, wf, lead_id=lead.id)
    clock = Clock(dt.datetime.now(dt.UTC))
    assert await run_due(qdb, clock) == ["succeeded"]
    done = await get_run(db, run.id)
    assert (done.status, done.current_step, done.attempt, done.lease_owner) == ("succeeded", 2, 1, None)
    assert [(e["step"], e["type"], e["status"]) for e in done.step_log] == [
        (0, "create_task", "done"), (1, "update_record", "done")]
    async with db.session() as session:
        task = await session.scalar(select(Activity))
        assert task is not None
        assert (task.kind, task.lead_id, task.team, task.idempotency_key) == (
            "task", lead.id, "wedding_specialists", f"run:{run.id}:step:0")
        assert await session.scalar(text("SELECT status FROM leads")) == "contacted"


async def test_step_without_a_registered_handler_fails_the_run_with_a_clear_message(db, qdb, factory,  # type: ignore[no-untyped-def]
                                                                                     monkeypatch) -> None:
    monkeypatch.delitem(step_registry._HANDLERS, "send_email", raising=False)
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[{"type": "send_email", "template": "lead-welcome"}]))
    run = await queued_run(db, wf)
    assert await run_due(qdb, Clock(dt.datetime.now(dt.UTC))) == ["failed"]
    failed = await get_run(db, run.id)
    assert failed.attempt == 1
    assert failed.last_error_type == "PermanentStepError"
    assert "no implementation is registered for step type 'send_email'" in (failed.last_error_message or "")


def test_retry_delay_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(initial_interval="10s", backoff_factor=2, max_interval="60s")
    rng = random.Random(7)
    for attempt, full in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        delays = [retry_delay(policy, attempt, rng).total_seconds() for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays), (attempt, delays)
        assert max(delays) - min(delays) > 0  # jittered


async def test_retried_run_follows_the_retry_policy_and_goes_dead_after_the_last_attempt(  # type: ignore[no-untyped-def]
        db, qdb, factory, recording) -> None:
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(
        steps=[{"type": "notify", "template": "retryable"}],
        retry={"max_attempts": 3, "initial_interval": "10s", "backoff_factor": 3, "max_interval": "1h"}))
    clock = Clock()
    run = await queued_run(db, wf, now=clock(), max_attempts=3)
    executor = RunExecutor(qdb, "worker-a", clock=clock, rng=random.Random(1))
    outcomes, delays = [], []
    for _ in range(3):
        outcomes += await run_due(qdb, clock, executor=executor)
        current = await get_run(db, run.id)
        if current.status == "queued":
            delays.append((current.run_after - clock()).total_seconds())
            assert await run_due(qdb, clock, executor=executor) == []  # not due before run_after
            clock.now = current.run_after
    assert outcomes == ["retry", "retry", "dead"]
    assert 5 <= delays[0] <= 10 and 15 <= delays[1] <= 30
    dead = await get_run(db, run.id)
    assert (dead.status, dead.attempt, dead.last_error_type) == ("dead", 3, "RetryableDeliveryError")
    assert [(e["status"], e["attempt"], e["type"], e["name"]) for e in dead.step_log] == [
        (status, attempt, "notify", "notify") for attempt in (1, 2, 3) for status in ("started", "failed")]
    assert {e["idempotency_key"] for e in dead.step_log} == {f"run:{run.id}:step:0"}


async def test_poison_workflow_goes_dead_while_other_runs_keep_flowing(db, qdb, factory, recording) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    poison = await install_workflow(db, tenant, workflow_doc(
        "poison", steps=[{"type": "notify", "template": "poison"}],
        retry={"max_attempts": 2, "initial_interval": "1s", "max_interval": "1s"}))
    healthy = await install_workflow(db, tenant, workflow_doc("healthy", steps=[RECORD]))
    clock = Clock()
    bad = await queued_run(db, poison, now=clock(), max_attempts=2)
    good = [await queued_run(db, healthy, now=clock()) for _ in range(5)]
    await run_due(qdb, clock)
    clock.advance(seconds=2)
    await run_due(qdb, clock)
    assert (await get_run(db, bad.id)).status == "dead"
    assert [(await get_run(db, r.id)).status for r in good] == ["succeeded"] * 5
    assert await _effects(db) == 5


async def test_retry_by_hand_resumes_after_the_last_completed_step(db, qdb, factory, recording,  # type: ignore[no-untyped-def]
                                                                   monkeypatch) -> None:
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(
        steps=[RECORD, {"type": "notify", "template": "poison"}, RECORD], retry={"max_attempts": 1}))
    clock = Clock()
    run = await queued_run(db, wf, now=clock(), max_attempts=1)
    assert await run_due(qdb, clock) == ["dead"]
    assert await _effects(db) == 1
    monkeypatch.setitem(step_registry._HANDLERS, "notify", _always_record)
    async with db.session() as session:
        await service.retry_run(session, TenantScope(tenant.id), run.id, actor="test", now=clock())
    assert await run_due(qdb, clock) == ["succeeded"]
    done = await get_run(db, run.id)
    assert [e["step"] for e in done.step_log if e["status"] == "done"] == [0, 1, 2]
    assert await _effects(db) == 3  # step 0 did not run again


async def _always_record(ctx, step):  # type: ignore[no-untyped-def]
    step = step.model_copy(update={"template": "record"})
    return await engine_plugin.recording_notify(ctx, step)


async def test_paused_workflow_keeps_its_runs_queued_and_resume_drains_them(db, qdb, factory, recording) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc("lead_intake", steps=[RECORD]))
    other = await install_workflow(db, tenant, workflow_doc("other", steps=[RECORD]))
    clock = Clock()
    async with db.session() as session:
        await service.pause_workflow(session, tenant, "lead_intake", actor="test", reason="smtp down", now=clock())
    held = [await queued_run(db, wf, now=clock()) for _ in range(3)]
    await queued_run(db, other, now=clock())
    assert await run_due(qdb, clock) == ["succeeded"]  # only the unpaused workflow
    assert {(await get_run(db, r.id)).status for r in held} == {"queued"}
    async with db.session() as session:
        await service.resume_workflow(session, tenant, "lead_intake", actor="test")
    assert await run_due(qdb, clock) == ["succeeded"] * 3
    assert await _effects(db) == 4


async def test_wait_parks_the_run_without_a_lease_and_resumes_after_it(db, qdb, factory, recording) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[RECORD, {"type": "wait", "duration": "2 days"},
                                                                RECORD]))
    clock = Clock()
    run = await queued_run(db, wf, now=clock())
    assert await run_due(qdb, clock) == ["waiting"]
    parked = await get_run(db, run.id)
    assert (parked.status, parked.lease_owner, parked.current_step) == ("waiting", None, 2)
    assert parked.run_after == clock() + dt.timedelta(days=2)
    clock.advance(days=1)
    assert await run_due(qdb, clock) == []
    clock.advance(days=1)
    assert await run_due(qdb, clock) == ["succeeded"]
    done = await get_run(db, run.id)
    assert (done.attempt, await _effects(db)) == (1, 2)  # resuming a wait does not spend an attempt


async def test_stop_step_ends_the_run(db, qdb, factory, recording) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[{"type": "stop", "reason": "klaar"}, RECORD]))
    run = await queued_run(db, wf)
    assert await run_due(qdb, Clock(dt.datetime.now(dt.UTC))) == ["succeeded"]
    assert (await get_run(db, run.id)).step_log[0]["status"] == "stopped"
    assert await _effects(db) == 0


async def test_expired_lease_puts_the_run_back_and_the_zombie_cannot_complete_it(db, qdb, factory,  # type: ignore[no-untyped-def]
                                                                                  recording) -> None:
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[RECORD, RECORD]))
    clock = Clock()
    run = await queued_run(db, wf, now=clock())
    zombie = RunExecutor(qdb, "zombie", clock=clock, lease=dt.timedelta(seconds=30))
    async with qdb.session() as session:
        [claim] = await queue.claim_due_runs(session, owner="zombie", now=clock(), lease=zombie.lease, limit=10)
    assert await run_due(qdb, clock, owner="rescuer") == []  # leased: nobody else may take it
    clock.advance(seconds=31)
    assert await run_due(qdb, clock, owner="rescuer") == ["succeeded"]
    assert await zombie.execute(claim) == "lost"  # fenced: the zombie writes nothing
    done = await get_run(db, run.id)
    assert (done.status, done.attempt, await _effects(db)) == ("succeeded", 2, 2)
    assert {e["worker"] for e in done.step_log} == {"rescuer"}


async def test_cancelled_run_stops_at_the_next_step(db, qdb, factory, recording) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[RECORD, RECORD]))
    clock = Clock()
    run = await queued_run(db, wf, now=clock())
    async with qdb.session() as session:
        [claim] = await queue.claim_due_runs(session, owner="w", now=clock(), lease=dt.timedelta(seconds=30),
                                             limit=1)
    async with db.session() as session:
        await service.cancel_run(session, TenantScope(tenant.id), run.id, actor="test", now=clock())
    assert await RunExecutor(qdb, "w", clock=clock).execute(claim) == "lost"
    assert ((await get_run(db, run.id)).status, await _effects(db)) == ("cancelled", 0)


async def test_lease_expiring_on_the_last_attempt_makes_the_run_dead(db, qdb, factory, recording) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[RECORD]))
    clock = Clock()
    run = await queued_run(db, wf, now=clock(), max_attempts=1)
    async with qdb.session() as session:
        await queue.claim_due_runs(session, owner="killed", now=clock(), lease=dt.timedelta(seconds=5), limit=1)
    clock.advance(seconds=6)
    assert await run_due(qdb, clock) == ["dead"]
    dead = await get_run(db, run.id)
    assert (dead.last_error_type, await _effects(db)) == ("LeaseExpired", 0)


async def test_claim_takes_each_due_run_once_across_claimers(db, qdb, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc())
    clock = Clock()
    for _ in range(20):
        await queued_run(db, wf, now=clock())
    seen: list[int] = []
    for owner in ("a", "b", "c", "a"):
        async with qdb.session() as session:
            seen += [c.id for c in await queue.claim_due_runs(session, owner=owner, now=clock(),
                                                               lease=dt.timedelta(seconds=30), limit=7)]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 20
    async with db.session() as session:
        await session.execute(update(AutomationRun).values(status="succeeded"))
        assert await session.scalar(select(func.count()).select_from(AutomationRun)
                                    .where(AutomationRun.status == "running")) == 0


async def _claim(qdb, clock, owner: str = "w", limit: int = 50):  # type: ignore[no-untyped-def]
    async with qdb.session() as session:
        return await queue.claim_due_runs(session, owner=owner, now=clock(), lease=dt.timedelta(seconds=30),
                                          limit=limit)


async def test_database_only_steps_of_a_batch_commit_together_and_channel_steps_go_one_by_one(  # type: ignore[no-untyped-def]
        db, qdb, factory, recording) -> None:
    tenant = await factory.tenant()
    lead = await factory.lead(tenant)
    tasks_only = await install_workflow(db, tenant, workflow_doc("tasks", steps=[
        {"type": "create_task", "title": "Bel"}, {"type": "wait", "duration": "1h"},
        {"type": "create_task", "title": "Nabellen"}]))
    with_channel = await install_workflow(db, tenant, workflow_doc("channel", steps=[
        {"type": "create_task", "title": "Bel"}, RECORD]))
    clock = Clock()
    quick = [await queued_run(db, tasks_only, lead_id=lead.id, now=clock()) for _ in range(3)]
    mixed = await queued_run(db, with_channel, lead_id=lead.id, now=clock())
    executor = RunExecutor(qdb, "w", clock=clock)
    outcomes, rest = await executor.execute_group(await _claim(qdb, clock))
    assert outcomes == {r.id: "waiting" for r in quick}
    assert [c.id for c in rest] == [mixed.id]
    assert (await get_run(db, mixed.id)).current_step == 1  # its task step landed with the group
    assert [await executor.execute(c) for c in rest] == ["succeeded"]
    clock.advance(hours=1)
    outcomes, rest = await executor.execute_group(await _claim(qdb, clock))
    assert (set(outcomes.values()), rest) == ({"succeeded"}, [])
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Activity)) == 3 * 2 + 1
    assert await _effects(db) == 1


async def test_a_group_with_a_run_that_lost_its_lease_writes_nothing_and_falls_back(db, qdb, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[{"type": "create_task", "title": "Bel"}]))
    clock = Clock()
    runs = [await queued_run(db, wf, now=clock()) for _ in range(3)]
    claims = await _claim(qdb, clock, owner="zombie")
    async with db.session() as session:  # one of them was rescued by another worker meanwhile
        await session.execute(update(AutomationRun).where(AutomationRun.id == runs[1].id)
                              .values(lease_owner="rescuer"))
    outcomes, rest = await RunExecutor(qdb, "zombie", clock=clock).execute_group(claims)
    assert (outcomes, [c.id for c in rest]) == ({}, [r.id for r in runs])
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Activity)) == 0
    assert [(await get_run(db, r.id)).current_step for r in runs] == [0, 0, 0]


async def test_worker_records_a_failing_database_only_step_on_its_run_and_finishes_the_others(  # type: ignore[no-untyped-def]
        db, qdb, factory) -> None:
    import asyncio

    from rentguy_crm.automation.engine.worker import Worker

    tenant = await factory.tenant()
    lead = await factory.lead(tenant)
    good = await install_workflow(db, tenant, workflow_doc("good", steps=[{"type": "create_task", "title": "Bel"}]))
    bad = await install_workflow(db, tenant, workflow_doc("bad", steps=[
        {"type": "update_record", "record": "lead", "field": "no_such_field", "value": 1}]))
    runs = [await queued_run(db, good, lead_id=lead.id) for _ in range(4)]
    broken = await queued_run(db, bad, lead_id=lead.id)
    worker = Worker(qdb, concurrency=8, poll_interval=0.05, schedules_enabled=False)
    task = asyncio.create_task(worker.run())

    async def statuses() -> list[str]:
        return [(await get_run(db, r.id)).status for r in [*runs, broken]]

    try:
        await eventually(statuses, lambda s: not {"queued", "running"} & set(s), what="every run to finish")
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, timeout=HANG)
    failed = await get_run(db, broken.id)
    assert (failed.status, failed.last_error_type) == ("failed", "PermanentStepError")
    assert "no_such_field" in (failed.last_error_message or "")
    assert [(await get_run(db, r.id)).status for r in runs] == ["succeeded"] * 4


async def test_queue_status_reports_depth_lag_and_pauses_per_workflow(db, factory) -> None:  # type: ignore[no-untyped-def]
    from rentguy_crm.automation.runs.status import queue_status
    from rentguy_crm.tenants.scope import AllTenants

    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc())
    now = dt.datetime.now(dt.UTC)
    await queued_run(db, wf, now=now - dt.timedelta(seconds=40))
    await queued_run(db, wf, now=now - dt.timedelta(seconds=5))
    await queued_run(db, wf, now=now + dt.timedelta(hours=1))  # not due yet
    async with db.session() as session:
        await service.pause_workflow(session, tenant, "lead_intake", actor="test", reason=None, now=now)
    async with db.session() as session:
        status = await queue_status(session, now, AllTenants())
    [flow] = status["workflows"]
    assert (flow["workflow"], flow["depth"], flow["paused"]) == ("lead_intake", 2, True)
    assert 39 <= flow["lag_s"] <= 41


async def test_claims_honour_the_tenant_and_workflow_filters(db, qdb, factory) -> None:  # type: ignore[no-untyped-def]
    mrdj = await factory.tenant()
    other = await factory.tenant("other")
    intake = await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    followup = await install_workflow(db, mrdj, workflow_doc("proposal_followup"))
    foreign = await install_workflow(db, other, workflow_doc("lead_intake"))
    clock = Clock()
    mine = await queued_run(db, intake, now=clock())
    await queued_run(db, followup, now=clock())
    await queued_run(db, foreign, now=clock())
    async with qdb.session() as session:
        claimed = await queue.claim_due_runs(session, owner="w", now=clock(), lease=dt.timedelta(seconds=30),
                                             limit=10, tenant_ids=[mrdj.id], workflow_keys=["lead_intake"])
    assert [c.id for c in claimed] == [mine.id]


async def test_a_step_that_outlasts_the_lease_is_not_executed_twice(db, qdb, factory, recording) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from rentguy_crm.automation.engine.worker import Worker

    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[{"type": "notify", "template": "slow-2000"}]))
    run = await queued_run(db, wf)
    worker = Worker(qdb, concurrency=1, poll_interval=0.05, lease=dt.timedelta(seconds=0.6),
                    schedules_enabled=False)
    task = asyncio.create_task(worker.run())
    rescued: list[int] = []

    async def rescue_then_status() -> str:  # another worker keeps trying to take it until the step is done
        async with qdb.session() as session:
            rescued.extend(c.id for c in await queue.claim_due_runs(
                session, owner="rescuer", now=dt.datetime.now(dt.UTC), lease=dt.timedelta(seconds=30), limit=1))
        return (await get_run(db, run.id)).status

    try:
        await eventually(lambda: get_run(db, run.id), lambda r: r.lease_owner == worker.name,
                         what="the worker to claim the run")
        await eventually(rescue_then_status, lambda s: s not in ("queued", "running"), what="the slow step to end",
                         interval=0.05)
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, timeout=HANG)
    assert rescued == []
    assert ((await get_run(db, run.id)).status, await _effects(db)) == ("succeeded", 1)


async def test_a_stored_definition_the_code_no_longer_accepts_fails_the_run_once_with_the_reason(  # type: ignore[no-untyped-def]
    db, qdb, factory
) -> None:
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[{"type": "notify", "template": "Not A Key!"}]))
    clock = Clock()
    run = await queued_run(db, wf, now=clock())
    assert await run_due(qdb, clock) == ["failed"]
    stored = await get_run(db, run.id)
    assert stored.status == "failed"
    assert "not valid any more" in (stored.last_error_message or "")
    assert "template" in (stored.last_error_message or "")
