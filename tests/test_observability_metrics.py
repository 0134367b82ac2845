"""/metrics: Prometheus text format, database-derived queue gauges, optional token, several processes."""

from __future__ import annotations

import datetime as dt
import subprocess
import time

import httpx
import pytest

from rentguy_crm.db import utcnow
from rentguy_crm.observability import exporter, metrics
from tests.obs_support import PYTHON, REPO, add_runs, add_workflow, child_env, free_port, sample, stop, wait_http
from tests.worker_support import HANG


async def test_metrics_answers_in_prometheus_text_format_without_a_key(client) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE crm_automation_runs_finished_total counter" in response.text


async def test_finished_runs_counter_shows_in_the_scrape(client) -> None:
    child = metrics.automation_runs_finished_total.labels(tenant="scrape-t", workflow="lead_intake", status="dead")
    before = child._value.get()
    child.inc(3)
    text = (await client.get("/metrics")).text
    assert sample(text, "crm_automation_runs_finished_total", tenant="scrape-t", workflow="lead_intake",
                  status="dead") == before + 3


async def test_queue_depth_and_lag_come_from_the_run_table(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    await add_workflow(db, tenant, "lead_intake", sla="15m")
    await add_workflow(db, tenant, "proposal_followup", sla="1h")
    now = utcnow()
    await add_runs(db, tenant, "lead_intake", "queued", 3, created_at=now - dt.timedelta(minutes=5))
    await add_runs(db, tenant, "lead_intake", "queued", 2, created_at=now, run_after=now + dt.timedelta(hours=1))
    await add_runs(db, tenant, "lead_intake", "succeeded", 4, created_at=now - dt.timedelta(minutes=9))
    text = (await client.get("/metrics")).text
    assert sample(text, "crm_automation_queue_depth", tenant="mrdj", workflow="lead_intake") == 3
    lag = sample(text, "crm_automation_queue_lag_seconds", tenant="mrdj", workflow="lead_intake")
    assert lag is not None and 295 <= lag <= 330
    assert sample(text, "crm_automation_queue_depth", tenant="mrdj", workflow="proposal_followup") == 0
    assert sample(text, "crm_automation_queue_lag_seconds", tenant="mrdj", workflow="proposal_followup") == 0
    assert sample(text, "crm_automation_workflow_sla_seconds", tenant="mrdj", workflow="proposal_followup") == 3600


async def test_paused_workflow_reports_one(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    await add_workflow(db, tenant, "lead_intake")
    await add_workflow(db, tenant, "post_event_care", enabled=False)
    text = (await client.get("/metrics")).text
    assert sample(text, "crm_automation_workflow_paused", tenant="mrdj", workflow="post_event_care") == 1
    assert sample(text, "crm_automation_workflow_paused", tenant="mrdj", workflow="lead_intake") == 0


async def test_process_local_copies_of_database_gauges_are_not_exported_twice(client) -> None:
    metrics.automation_queue_depth.labels(tenant="ghost", workflow="x").set(99)
    text = (await client.get("/metrics")).text
    assert text.count("# TYPE crm_automation_queue_depth gauge") == 1
    assert sample(text, "crm_automation_queue_depth", tenant="ghost", workflow="x") is None


async def test_metrics_token_is_required_when_configured(client, monkeypatch) -> None:
    monkeypatch.setenv("CRM_METRICS_TOKEN", "scrape-secret")
    missing = await client.get("/metrics")
    assert missing.status_code == 401
    assert "CRM_METRICS_TOKEN" not in missing.text and "scrape-secret" not in missing.text
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert right.status_code == 200


def test_start_worker_metrics_serves_the_workers_counters_on_its_own_port() -> None:
    server, _thread, port = exporter.start_worker_metrics(0)
    try:
        metrics.worker_heartbeat_timestamp_seconds.labels(worker="host-a:123").set(1_700_000_000)
        metrics.automation_run_retries_total.labels(tenant="mrdj", workflow="worker-port-test").inc()
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert sample(text, "crm_worker_heartbeat_timestamp_seconds", worker="host-a:123") == 1_700_000_000
        assert sample(text, "crm_automation_run_retries_total", tenant="mrdj", workflow="worker-port-test") == 1
    finally:
        server.shutdown()
        server.server_close()


def test_prepare_multiprocess_dir_gives_each_start_a_fresh_directory(tmp_path, monkeypatch) -> None:
    # setenv first so that monkeypatch restores the variable's absence afterwards.
    monkeypatch.setenv(exporter.MULTIPROC_ENV, "placeholder")
    monkeypatch.delenv(exporter.MULTIPROC_ENV)
    stale = tmp_path / "prometheus-multiproc" / "20250101T000000-999999999"
    stale.mkdir(parents=True)
    (stale / "counter_999999999.db").write_bytes(b"old")
    fresh = exporter.prepare_multiprocess_dir(tmp_path)
    assert fresh.is_dir() and not any(fresh.iterdir())
    assert fresh != stale and not stale.exists()
    import os

    assert os.environ[exporter.MULTIPROC_ENV] == str(fresh)


def test_sweep_marks_processes_that_are_gone_as_dead(tmp_path) -> None:
    (tmp_path / "gauge_livesum_999999999.db").write_bytes(b"x")
    (tmp_path / "counter_999999999.db").write_bytes(b"x")
    assert exporter.sweep_dead_processes(tmp_path) == [999999999]
    assert not (tmp_path / "gauge_livesum_999999999.db").exists()
    assert (tmp_path / "counter_999999999.db").exists()  # counters of dead processes still count


@pytest.mark.slow
def test_counters_of_two_api_processes_add_up_in_one_scrape(tmp_path) -> None:
    port = free_port()
    env = child_env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [PYTHON, "-m", "uvicorn", "tests.obs_multiproc_app:create", "--factory", "--workers", "2",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", proc=proc)
        pids: set[int] = set()
        posts = 0
        deadline = time.monotonic() + HANG  # until both processes answered; only a hang reaches the ceiling
        while (len(pids) < 2 or posts < 10) and time.monotonic() < deadline:
            with httpx.Client(base_url=base, timeout=5) as fresh_connection:
                pids.add(fresh_connection.post("/test-only/finish-run").json()["pid"])
            posts += 1
        assert len(pids) == 2, "both API processes should have handled requests"
        for _ in range(4):  # whichever process answers the scrape reports the sum of both
            with httpx.Client(base_url=base, timeout=5) as fresh_connection:
                text = fresh_connection.get("/metrics").text
            assert sample(text, "crm_automation_runs_finished_total", tenant="mrdj", workflow="lead_intake",
                          status="failed") == posts
    finally:
        stop(proc)


@pytest.mark.slow
async def test_crm_serve_with_two_workers_shares_a_fresh_multiprocess_directory(factory, tmp_path) -> None:
    import asyncio
    import json
    import sys
    from pathlib import Path

    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    fixtures = REPO / "tests" / "webhooks" / "alertmanager" / "fixtures"
    body = json.loads((fixtures / "failure_rate_firing.json").read_text())
    crm = str(Path(sys.executable).parent / "crm")
    var_dir = tmp_path / "var"

    def serve_and_post() -> tuple[float | None, set[int], list[str]]:
        port = free_port()
        env = child_env(CRM_VAR_DIR=str(var_dir))
        env.pop(exporter.MULTIPROC_ENV, None)
        proc = subprocess.Popen([crm, "serve", "--workers", "2", "--port", str(port)], cwd=REPO, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(base + "/healthz", proc=proc)
            for _ in range(12):
                with httpx.Client(base_url=base, timeout=5) as fresh_connection:
                    assert fresh_connection.post("/api/v1/webhooks/alertmanager", json=body,
                                                 headers=headers).status_code == 200
            directories = list((var_dir / "prometheus-multiproc").iterdir())
            pids = {int(p.stem.rsplit("_", 1)[-1]) for d in directories for p in d.glob("counter_*.db")}
            with httpx.Client(base_url=base, timeout=5) as fresh_connection:
                text = fresh_connection.get("/metrics").text
            return (sample(text, "crm_alertmanager_alerts_received_total", tenant="mrdj", status="firing"), pids,
                    [d.name for d in directories])
        finally:
            stop(proc)

    total, pids, directories = await asyncio.to_thread(serve_and_post)
    assert len(directories) == 1  # a fresh directory for this start
    assert total == 12
    assert pids, "the processes write their samples to the shared directory (multiprocess mode is on)"


async def test_metrics_still_answers_when_the_database_does_not() -> None:
    from rentguy_crm.app import create_app
    from rentguy_crm.config import get_settings
    from rentguy_crm.db import Database

    broken = Database(get_settings(), url="sqlite+aiosqlite:////nonexistent-dir/for/sure/crm.db")
    app = create_app(get_settings(), db=broken)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/metrics")
    await broken.dispose()
    assert response.status_code == 200
    assert "# TYPE crm_automation_runs_finished_total counter" in response.text
    assert "crm_automation_queue_depth{" not in response.text
