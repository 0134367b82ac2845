"""Every step-log entry names its step (index, type, name), on every path: done, failed, retried, dead after an
expired lease, skipped, waited, branch, group-committed; and the reporting view names the failed step."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from rentguy_crm.automation.engine import channel_steps, step_registry
from rentguy_crm.automation.engine.executor import RunExecutor
from rentguy_crm.automation.runs import queue
from tests import engine_plugin
from tests.automation_support import Clock, get_run, install_workflow, queued_run, run_due, workflow_doc
from tests.worker_support import ROOT, crm


@pytest.fixture
async def qdb(db) -> AsyncIterator[queue.QueueDatabase]:  # type: ignore[no-untyped-def]
    database = queue.QueueDatabase(db.url)
    yield database
    await database.dispose()


@pytest.fixture
async def handlers(db, monkeypatch) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """The recording test `notify` (record / retryable / poison) and the real `send_email`."""
    monkeypatch.setitem(step_registry._HANDLERS, "notify", engine_plugin.recording_notify)
    monkeypatch.setitem(step_registry._HANDLERS, "send_email", channel_steps.send_email)
    async with db.engine.begin() as conn:
        await conn.execute(text(engine_plugin.EFFECTS_DDL))
        await conn.execute(text("DELETE FROM test_step_effects"))
    yield


def named(log: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["step"], e["type"], e["name"], e["status"]) for e in log]


async def _run(db, qdb, factory, steps: list[dict[str, Any]], *, clock: Clock | None = None,  # type: ignore[no-untyped-def]
               max_attempts: int = 5, **lead: Any) -> Any:
    tenant = await factory.tenant()
    contact = await factory.contact(tenant, email=lead.pop("email", "anna@example.nl"))
    subject = await factory.lead(tenant, contact=contact, **lead)
    wf = await install_workflow(db, tenant, workflow_doc(steps=steps, retry={"max_attempts": max_attempts}))
    clock = clock or Clock()
    run = await queued_run(db, wf, lead_id=subject.id, now=clock(), max_attempts=max_attempts)
    outcomes = await run_due(qdb, clock)
    return outcomes, await get_run(db, run.id)


async def test_done_steps_are_named_including_the_announced_attempt_of_a_side_effecting_step(  # type: ignore[no-untyped-def]
        db, qdb, factory, handlers) -> None:
    outcomes, run = await _run(db, qdb, factory, [
        {"type": "create_task", "name": "bel de lead", "title": "Bel"},
        {"type": "notify", "template": "record"}])
    assert outcomes == ["succeeded"]
    assert named(run.step_log) == [(0, "create_task", "bel de lead", "done"), (1, "notify", "notify", "started"),
                                   (1, "notify", "notify", "done")]


async def test_a_failing_step_is_named_in_its_failure_entry(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    outcomes, run = await _run(db, qdb, factory, [
        {"type": "create_task", "title": "Bel"},
        {"type": "update_record", "name": "zet status", "record": "lead", "field": "no_such_field", "value": "x"}])
    assert outcomes == ["failed"]
    assert named(run.step_log)[-1] == (1, "update_record", "zet status", "failed")
    assert run.step_log[-1]["error"]["type"] == "PermanentStepError"


async def test_a_retried_step_is_named_and_says_when_it_is_tried_again(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    outcomes, run = await _run(db, qdb, factory, [{"type": "notify", "name": "sales-melding", "template": "retryable"}])
    assert outcomes == ["retry"] and run.status == "queued"
    assert named(run.step_log) == [(0, "notify", "sales-melding", "started"), (0, "notify", "sales-melding", "failed")]
    failure = run.step_log[-1]
    assert failure["retryable"] is True and failure["idempotency_key"] == f"run:{run.id}:step:0"
    assert dt.datetime.fromisoformat(failure["retry_at"]) == run.run_after


async def test_a_run_dead_after_its_last_lease_expired_names_the_step_it_was_on(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[{"type": "notify", "name": "welkom",
                                                                 "template": "record"}]))
    clock = Clock()
    run = await queued_run(db, wf, now=clock(), max_attempts=1)
    async with qdb.session() as session:  # a worker claims it and dies without a word
        await queue.claim_due_runs(session, owner="worker-dead", now=clock(), lease=dt.timedelta(seconds=30),
                                   limit=10)
    clock.advance(seconds=31)
    assert await run_due(qdb, clock) == ["dead"]
    dead = await get_run(db, run.id)
    assert named(dead.step_log) == [(0, "notify", "welkom", "failed")]
    assert dead.step_log[-1]["error"]["type"] == "LeaseExpired"


async def test_a_stored_definition_that_no_longer_loads_is_named_as_such(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    outcomes, run = await _run(db, qdb, factory, [{"type": "fax", "name": "oud"}])
    assert outcomes == ["failed"]
    assert named(run.step_log) == [(0, "workflow", "workflow definition", "failed")]


async def test_a_step_that_skips_is_named_and_logged_skipped(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    outcomes, run = await _run(db, qdb, factory, [{"type": "send_email", "name": "welkomstmail",
                                                   "template": "lead-welcome"}], email=None)
    assert outcomes == ["succeeded"]
    assert named(run.step_log) == [(0, "send_email", "welkomstmail", "started"),
                                   (0, "send_email", "welkomstmail", "skipped")]
    assert run.step_log[-1]["output"] == {"skipped": "the contact has no e-mail address"}


async def test_wait_and_branch_entries_are_named(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    outcomes, run = await _run(db, qdb, factory, [
        {"type": "branch", "name": "bruiloft?", "condition": "lead.event_type == 'bruiloft'",
         "then": [{"type": "wait", "name": "even wachten", "duration": "1h"}]},
        {"type": "branch", "condition": "lead.event_type == 'feest'", "then": [{"type": "stop"}]}])
    assert outcomes == ["waiting"]
    assert named(run.step_log) == [(0, "branch", "bruiloft?", "done"), (1, "wait", "even wachten", "waiting")]
    assert run.step_log[0]["output"] == {"condition": True}


async def test_group_committed_steps_are_named(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    lead = await factory.lead(tenant)
    wf = await install_workflow(db, tenant, workflow_doc(steps=[
        {"type": "create_task", "name": "bel", "title": "Bel"},
        {"type": "branch", "condition": "lead.event_type == 'feest'", "then": [{"type": "stop", "name": "klaar"}]},
        {"type": "update_record", "record": "lead", "field": "status", "value": "contacted"}]))
    clock = Clock()
    run = await queued_run(db, wf, lead_id=lead.id, now=clock())
    executor = RunExecutor(qdb, "worker-a", clock=clock)
    async with qdb.session() as session:
        claims = await queue.claim_due_runs(session, owner="worker-a", now=clock(), lease=executor.lease, limit=10)
    outcomes, rest = await executor.execute_group(claims)
    assert outcomes == {run.id: "succeeded"} and rest == []
    done = await get_run(db, run.id)
    assert named(done.step_log) == [(0, "create_task", "bel", "done"),
                                    (1, "branch", "branch if lead.event_type == 'feest'", "done"),
                                    (3, "update_record", "update_record", "done")]


async def test_the_failed_runs_view_and_crm_runs_show_name_the_failed_step(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    outcomes, run = await _run(db, qdb, factory, [
        {"type": "notify", "name": "sales-melding", "template": "record"},
        {"type": "notify", "name": "finance", "template": "poison"}], max_attempts=1)
    assert outcomes == ["dead"]
    async with db.session() as session:
        rows = (await session.execute(text(
            "SELECT run_id, tenant, workflow, status, failed_step_index, failed_step, failed_step_type, "
            "last_error_type FROM crm_report_failed_runs"))).all()
    assert [tuple(r) for r in rows] == [(run.id, "mrdj", "lead_intake", "dead", 1, "finance", "notify",
                                         "RuntimeError")]
    shown = json.loads(crm("runs", "show", str(run.id), "--json"))
    assert named(shown["step_log"])[-1] == (1, "notify", "finance", "failed")


def documented_failed_runs_query(dialect: str) -> str:
    """The SQL block under 'What failed, when, why, for which lead' in docs/automation.md, as documented."""
    doc = (ROOT / "docs" / "automation.md").read_text()
    section = doc[doc.index("## What failed, when, why, for which lead"):]
    sql = section.split("```sql", 1)[1].split("```", 1)[0].strip().rstrip(";")
    if dialect == "sqlite":  # the documented SQLite spelling of the 24-hour window
        sql = sql.replace("now() - interval '24 hours'", "datetime('now', '-24 hours')")
    return sql


async def test_the_documented_what_failed_query_names_the_failed_step(db, qdb, factory, handlers) -> None:  # type: ignore[no-untyped-def]
    outcomes, run = await _run(db, qdb, factory, [
        {"type": "create_task", "title": "Bel"},
        {"type": "update_record", "name": "zet status", "record": "lead", "field": "no_such_field", "value": "x"}],
        clock=Clock(dt.datetime.now(dt.UTC)))
    assert outcomes == ["failed"]
    async with db.session() as session:
        rows = (await session.execute(text(documented_failed_runs_query(db.dialect)))).mappings().all()
    assert [(r["run_id"], r["failed_step"], r["failed_step_type"], r["email"]) for r in rows] == [
        (run.id, "zet status", "update_record", "anna@example.nl")]
