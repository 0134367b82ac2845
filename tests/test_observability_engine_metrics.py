"""The run engine and workers feed the metrics the alerts and the dashboard read, and tag their log lines."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from rentguy_crm.automation.engine import schedules, step_registry
from rentguy_crm.automation.engine.executor import RunExecutor
from rentguy_crm.automation.engine.step_registry import StepContext, StepResult
from rentguy_crm.automation.engine.worker import Worker
from rentguy_crm.automation.runs import queue, service
from rentguy_crm.config import Settings, get_settings
from rentguy_crm.integrations.base import PermanentDeliveryError
from rentguy_crm.observability.logging import configure_logging
from rentguy_crm.ratelimit.models import RateLimitSwitch
from rentguy_crm.tenants.scope import TenantScope
from tests.automation_support import Clock, get_run, install_workflow, queued_run, run_due, workflow_doc
from tests.obs_support import sample
from tests.worker_support import HANG


@pytest.fixture
async def qdb(db) -> AsyncIterator[queue.QueueDatabase]:  # type: ignore[no-untyped-def]
    database = queue.QueueDatabase(db.url)
    yield database
    await database.dispose()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(Settings(log_json=True, log_level="DEBUG"), stream=stream)
    yield stream
    configure_logging(get_settings())


async def refusing_notify(ctx: StepContext, step: Any) -> StepResult:
    if step.template == "always-fails":
        raise PermanentDeliveryError("slack: the webhook answered 400 invalid_payload")
    return StepResult.done()


@pytest.fixture
def notify(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(step_registry._HANDLERS, "notify", refusing_notify)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


FAILING = {"type": "notify", "template": "always-fails"}
DELIVERED = {"type": "notify", "template": "lead-new-slack"}


async def test_every_log_line_of_a_run_carries_run_id_tenant_and_workflow(db, qdb, factory, notify,  # type: ignore[no-untyped-def]
                                                                          log_stream) -> None:
    tenant = await factory.tenant("logtenant")
    wf = await install_workflow(db, tenant, workflow_doc("lead_intake", steps=[FAILING]))
    run = await queued_run(db, wf)
    assert await run_due(qdb, Clock(dt.datetime.now(dt.UTC))) == ["failed"]
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.strip()]
    [failed] = [line for line in lines if line["event"] == "run_failed"]
    assert (failed["run_id"], failed["tenant"], failed["workflow"]) == (run.id, "logtenant", "lead_intake")


async def test_finished_runs_are_counted_by_status_with_their_duration(db, qdb, factory, notify) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("counted")
    failing = await install_workflow(db, tenant, workflow_doc("lead_intake", steps=[FAILING]))
    healthy = await install_workflow(db, tenant, workflow_doc("lead_followup", steps=[DELIVERED]))
    labels = {"tenant": "counted"}
    before = {s: value("crm_automation_runs_finished_total", **labels, workflow="lead_intake", status=s)
              for s in ("failed", "succeeded")}
    durations = value("crm_automation_run_duration_seconds_count", **labels, workflow="lead_followup")
    await queued_run(db, failing)
    await queued_run(db, healthy)
    assert sorted(await run_due(qdb, Clock(dt.datetime.now(dt.UTC)))) == ["failed", "succeeded"]
    assert value("crm_automation_runs_finished_total", **labels, workflow="lead_intake",
                 status="failed") == before["failed"] + 1
    assert value("crm_automation_runs_finished_total", **labels, workflow="lead_intake",
                 status="succeeded") == before["succeeded"]
    assert value("crm_automation_run_duration_seconds_count", **labels, workflow="lead_followup") == durations + 1


async def test_a_run_succeeding_after_its_sla_is_marked_and_counted_once(db, qdb, factory, notify) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("latesla")
    wf = await install_workflow(db, tenant, workflow_doc("lead_intake", steps=[DELIVERED]))
    clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))
    run = await queued_run(db, wf, now=clock())  # SLA 15 minutes
    before = value("crm_automation_sla_breaches_total", tenant="latesla", workflow="lead_intake")
    clock.advance(minutes=20)
    assert await run_due(qdb, clock) == ["succeeded"]
    assert (await get_run(db, run.id)).sla_breached is True
    assert value("crm_automation_sla_breaches_total", tenant="latesla", workflow="lead_intake") == before + 1
    # The SLA job later finds it marked already: no second count, no event.
    async with db.session() as session:
        assert await schedules.mark_sla_breaches(session, clock.advance(minutes=1)) == {"breached": 0}
    assert value("crm_automation_sla_breaches_total", tenant="latesla", workflow="lead_intake") == before + 1


async def test_a_group_committed_run_succeeding_after_its_sla_counts_a_breach(db, qdb, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("latesla2")
    wf = await install_workflow(db, tenant, workflow_doc("lead_intake"))  # create_task: database-only
    clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))
    run = await queued_run(db, wf, now=clock())
    before = value("crm_automation_sla_breaches_total", tenant="latesla2", workflow="lead_intake")
    clock.advance(minutes=20)
    executor = RunExecutor(qdb, "grouper", clock=clock)
    async with qdb.session() as session:
        claims = await queue.claim_due_runs(session, owner="grouper", now=clock(), lease=executor.lease, limit=10)
    outcomes, rest = await executor.execute_group(claims)
    assert (outcomes, rest) == ({run.id: "succeeded"}, [])
    assert (await get_run(db, run.id)).sla_breached is True
    assert value("crm_automation_sla_breaches_total", tenant="latesla2", workflow="lead_intake") == before + 1


async def test_a_run_within_its_sla_is_not_a_breach(db, qdb, factory, notify) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("insla")
    wf = await install_workflow(db, tenant, workflow_doc("lead_intake", steps=[DELIVERED]))
    clock = Clock(dt.datetime.now(dt.UTC))
    run = await queued_run(db, wf, now=clock())
    clock.advance(minutes=14)
    assert await run_due(qdb, clock) == ["succeeded"]
    assert (await get_run(db, run.id)).sla_breached is False
    assert value("crm_automation_sla_breaches_total", tenant="insla", workflow="lead_intake") == 0


async def test_cancelling_a_run_counts_it_as_cancelled(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("cancels")
    wf = await install_workflow(db, tenant, workflow_doc("lead_intake"))
    run = await queued_run(db, wf)
    async with db.session() as session:
        await service.cancel_run(session, TenantScope(tenant.id), run.id, actor="test", now=dt.datetime.now(dt.UTC))
    assert value("crm_automation_runs_finished_total", tenant="cancels", workflow="lead_intake",
                 status="cancelled") == 1


async def test_a_worker_creates_its_workflows_series_at_zero_when_it_starts(db, qdb, factory) -> None:  # type: ignore[no-untyped-def]
    # A counter series that first appears at 1 is not an increase for Prometheus: the first failure must be.
    tenant = await factory.tenant("learnt")
    await install_workflow(db, tenant, workflow_doc("lead_intake"))
    labels = {"tenant": "learnt", "workflow": "lead_intake"}
    assert REGISTRY.get_sample_value("crm_automation_runs_finished_total", {**labels, "status": "failed"}) is None
    worker = Worker(qdb, name="learner", schedules_enabled=False)
    await worker._register()
    for status in ("succeeded", "failed", "dead", "cancelled"):
        assert REGISTRY.get_sample_value("crm_automation_runs_finished_total", {**labels, "status": status}) == 0
    assert REGISTRY.get_sample_value("crm_automation_run_retries_total", labels) == 0
    assert REGISTRY.get_sample_value("crm_automation_sla_breaches_total", labels) == 0
    assert REGISTRY.get_sample_value("crm_worker_heartbeat_timestamp_seconds", {"worker": "learner"}) is not None


async def test_rate_limit_profile_is_read_from_the_database_at_scrape_time(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    # Switched by another process: this process never saw the switch, yet its scrape reports it.
    tenant = await factory.tenant("profiled")
    other = await factory.tenant("standardly")
    now = dt.datetime.now(dt.UTC)
    async with db.session() as session:
        session.add(RateLimitSwitch(tenant_id=tenant.id, profile="strict", revert_to="standard",
                                    until=now + dt.timedelta(hours=1), set_by="ops", set_at=now))
    text = (await client.get("/metrics")).text
    assert [sample(text, "crm_rate_limit_profile", tenant="profiled", profile=p)
            for p in ("strict", "standard", "relaxed")] == [1, 0, 0]
    assert sample(text, "crm_rate_limit_profile", tenant=other.slug, profile="standard") == 1


async def test_an_expired_rate_limit_switch_reports_the_profile_it_reverted_to(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("reverted")
    now = dt.datetime.now(dt.UTC)
    async with db.session() as session:
        session.add(RateLimitSwitch(tenant_id=tenant.id, profile="relaxed", revert_to="standard",
                                    until=now - dt.timedelta(minutes=1), set_by="ops",
                                    set_at=now - dt.timedelta(hours=1)))
    text = (await client.get("/metrics")).text
    assert sample(text, "crm_rate_limit_profile", tenant="reverted", profile="relaxed") == 0
    assert sample(text, "crm_rate_limit_profile", tenant="reverted", profile="standard") == 1


@pytest.mark.slow
async def test_crm_workers_run_serves_its_metrics_port_with_heartbeat_and_workflow_series(  # type: ignore[no-untyped-def]
        db, factory, tmp_path) -> None:
    import asyncio

    import httpx

    from tests.obs_live import live_env, start_worker, wait_until
    from tests.obs_support import stop

    tenant = await factory.tenant("mrdj")
    await install_workflow(db, tenant, workflow_doc("lead_intake"))
    proc, url = await asyncio.to_thread(start_worker, live_env(), tmp_path / "worker.log")

    def registered() -> str | None:  # the port answers first; the worker registers a moment later
        text = httpx.get(url, timeout=5).text
        return text if "crm_worker_heartbeat_timestamp_seconds{" in text else None

    try:
        text = await asyncio.to_thread(wait_until, registered, HANG, "the worker did not register")
    finally:
        await asyncio.to_thread(stop, proc)
    assert proc.returncode == 0  # SIGTERM: a clean stop
    assert sample(text, "crm_automation_runs_finished_total", tenant="mrdj", workflow="lead_intake",
                  status="failed") == 0
    heartbeats = [line for line in text.splitlines() if line.startswith("crm_worker_heartbeat_timestamp_seconds{")]
    assert len(heartbeats) == 1


def test_a_taken_metrics_port_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    from typer.testing import CliRunner

    from rentguy_crm.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["workers", "run", "--metrics-port", str(port)])
    assert result.exit_code == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.output
