"""A real Prometheus (the Debian package) with the shipped rules scrapes a running instance — the API (uvicorn)
and a `crm workers run --metrics-port` process executing real runs of leads posted to `POST /api/v1/leads` —
and reports the failure-rate alert as firing through its own API; with the real Alertmanager, the alert reaches
a Slack fake and the CRM's webhook."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from rentguy_crm.automation.runs import service as automation_service
from rentguy_crm.db import utcnow
from tests.obs_live import live_env, post_leads, start_api, start_worker, sync_workflows, wait_until
from tests.obs_support import REPO, add_runs, add_workflow, free_port, stop, wait_http
from tests.worker_support import HANG

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

PROMETHEUS = os.environ.get("CRM_PROMETHEUS_BINARY", "/usr/bin/prometheus")
RULES = REPO / "ops" / "prometheus" / "rules" / "crm.yml"
ALERTMANAGER = REPO / "ops" / "alertmanager" / "alertmanager.yml"
ALERTMANAGER_BINARY = os.environ.get("CRM_ALERTMANAGER_BINARY", "/usr/bin/prometheus-alertmanager")
TIME_BUDGET = 300.0  # a ceiling for a hang: the alerts fire as soon as Prometheus's rules say so
LEADS = 30
FAIL_EVERY = 4  # leads 0, 4, 8, ... come from the failing city: 8 of 30 lead_intake runs fail (27%)


def fast_rules(source: Path, target: Path) -> None:
    """The shipped rules with every `for:` shortened to 1 s; the expressions stay exactly the same."""
    document = yaml.safe_load(source.read_text())
    for group in document["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    target.write_text(yaml.safe_dump(document, sort_keys=False))


def prometheus_config(api: str, worker: str, rules: Path, alertmanager: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "rentguy-crm-api", "static_configs": [{"targets": [api]}]},
            {"job_name": "rentguy-crm-workers", "static_configs": [{"targets": [worker]}]},
        ],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def alertmanager_test_config(tmp: Path, slack_url: str, crm_url: str, api_key: str) -> Path:
    """The shipped Alertmanager config with its secret files and URLs pointed at the local fakes, 1 s group wait."""
    (tmp / "slack-webhook").write_text(slack_url)
    (tmp / "crm-key").write_text(api_key)
    document = yaml.safe_load(ALERTMANAGER.read_text())
    document["route"]["group_wait"] = "1s"
    for receiver in document["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack["api_url_file"] = str(tmp / "slack-webhook")
        for hook in receiver.get("webhook_configs", []):
            # Only scheme and host are swapped: the path is the shipped one, so a wrong route fails this test.
            hook["url"] = crm_url + urlsplit(hook["url"]).path
            hook["http_config"]["authorization"]["credentials_file"] = str(tmp / "crm-key")
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def firing(base: str) -> list[dict[str, Any]]:
    alerts = httpx.get(base + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["state"] == "firing"]


def find(alerts: list[dict[str, Any]], name: str, workflow: str) -> dict[str, Any] | None:
    return next((a for a in alerts if a["labels"]["alertname"] == name and a["labels"].get("workflow") == workflow),
                None)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(base + "/api/v1/query", params={"query": promql}, timeout=5).json()
    return list(response["data"]["result"])


async def prepare_instance(db: Any, factory: Any, tmp: Path) -> tuple[Any, str]:
    """Tenant mrdj with the test workflows synced, a paused workflow whose queue ages past its 1-minute SLA, and
    an API key of role operations (leads:submit for posting leads, alerts:ingest for Alertmanager)."""
    tenant = await factory.tenant("mrdj")
    await sync_workflows(db, tmp / "workflows")
    await add_workflow(db, tenant, "post_event_care", sla="1m")
    async with db.session() as session:
        await automation_service.pause_workflow(session, tenant, "post_event_care", actor="test",
                                                reason="SMTP storing", now=utcnow())
    await add_runs(db, tenant, "post_event_care", "queued", 2, created_at=utcnow() - dt.timedelta(minutes=5))
    return tenant, await factory.api_key(tenant, "operations", name="alertmanager")


def run_stack(tmp: Path, api_key: str, done: Callable[[list[dict[str, Any]]], bool] | None = None,
              alertmanager: Callable[[str], Path] | None = None) -> list[dict[str, Any]]:
    """Start the API, a worker with its metrics port, Prometheus (and Alertmanager when given its config factory,
    which gets the app's URL); post the leads once Prometheus has seen the workflows' series at zero; wait until
    the failure-rate and queue-lag alerts fire and `done` holds; return the firing alerts."""
    started = time.monotonic()
    processes: list[subprocess.Popen[bytes]] = []
    env = live_env()
    try:
        api, api_base = start_api(env)
        processes.append(api)
        worker, worker_metrics = start_worker(env, tmp / "worker.log")
        processes.append(worker)
        rules = tmp / "crm-fast.yml"
        fast_rules(RULES, rules)
        alertmanager_target = None
        if alertmanager is not None:
            am_port = free_port()
            am_config = alertmanager(api_base)
            with open(tmp / "alertmanager.log", "wb") as am_log:
                processes.append(subprocess.Popen(
                    [ALERTMANAGER_BINARY, f"--config.file={am_config}", f"--storage.path={tmp / 'am-data'}",
                     f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=", "--log.level=warn"],
                    cwd=tmp, stdout=subprocess.DEVNULL, stderr=am_log))
            wait_http(f"http://127.0.0.1:{am_port}/-/ready", proc=processes[-1])
            alertmanager_target = f"127.0.0.1:{am_port}"
        config = tmp / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(
            api_base.removeprefix("http://"), worker_metrics.removeprefix("http://").removesuffix("/metrics"),
            rules, alertmanager_target)))
        prom_port = free_port()
        with open(tmp / "prometheus.log", "wb") as prometheus_log:
            processes.append(subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=prometheus_log))
        base = f"http://127.0.0.1:{prom_port}"
        wait_http(base + "/-/ready", proc=processes[-1])
        # The worker created the series at zero when it learnt the workflows: once Prometheus has scraped that,
        # every failure is an increase it can count.
        wait_until(lambda: query(base, 'crm_automation_runs_finished_total{job="rentguy-crm-workers",'
                                       'workflow="lead_intake",status="failed"} == 0'),
                   HANG, "Prometheus did not scrape the worker's zero series")
        post_leads(api_base, api_key, LEADS, FAIL_EVERY)
        alerts: list[dict[str, Any]] = []
        while time.monotonic() - started < TIME_BUDGET:
            alerts = firing(base)
            if find(alerts, "CrmAutomationFailureRateHigh", "lead_intake") and find(
                    alerts, "CrmAutomationQueueLagAboveSla", "post_event_care") and (done is None or done(alerts)):
                return alerts
            time.sleep(1)
        log = (tmp / "prometheus.log").read_text()[-2000:]
        raise AssertionError(f"alerts not firing within {TIME_BUDGET}s: {alerts}\nprometheus log: {log}\n"
                             f"worker log: {(tmp / 'worker.log').read_text()[-2000:]}")
    finally:
        for proc in reversed(processes):
            stop(proc)


async def test_real_prometheus_fires_the_failure_rate_alert_for_real_failing_runs(db, factory, tmp_path) -> None:
    if not shutil.which(PROMETHEUS):
        pytest.skip(f"!!!!! {PROMETHEUS} is NOT INSTALLED (Debian package prometheus): real Prometheus check "
                    "SKIPPED !!!!!")
    _tenant, api_key = await prepare_instance(db, factory, tmp_path)

    alerts = await asyncio.to_thread(run_stack, tmp_path, api_key)

    failure = find(alerts, "CrmAutomationFailureRateHigh", "lead_intake")
    assert failure is not None
    assert failure["labels"]["tenant"] == "mrdj" and failure["labels"]["severity"] == "critical"
    assert failure["annotations"]["runbook_url"].endswith("#22-automation-failure-rate--2")
    assert float(failure["value"]) > 0.02
    # The healthy workflow ran as often and stays quiet; its queue is empty.
    assert find(alerts, "CrmAutomationFailureRateHigh", "lead_followup") is None
    assert find(alerts, "CrmAutomationQueueLagAboveSla", "lead_followup") is None
    # The worker's heartbeat is fresh, so the workers are not reported missing.
    assert not [a for a in alerts if a["labels"]["alertname"] in ("CrmWorkersAbsent", "CrmWorkerHeartbeatStale")]
    # The runs behind it are real: the worker executed every lead's two runs.
    from sqlalchemy import text

    async with db.session() as session:
        counts = {(r.workflow_key, r.status): r.n for r in (await session.execute(text(
            "SELECT workflow_key, status, count(*) AS n FROM crm_automation_runs GROUP BY workflow_key, status")))}
    failing = len(range(0, LEADS, FAIL_EVERY))
    assert counts[("lead_intake", "failed")] == failing
    assert counts[("lead_intake", "succeeded")] == LEADS - failing
    assert counts[("lead_followup", "succeeded")] == LEADS
    # Every worker line about a failed run names the run, the tenant and the workflow.
    lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines() if line.startswith("{")]
    failed_lines = [line for line in lines if line.get("event") == "run_failed"]
    assert len(failed_lines) == failing
    assert all(line["tenant"] == "mrdj" and line["workflow"] == "lead_intake" and line["run_id"]
               for line in failed_lines)


async def test_alert_reaches_slack_mrdj_ops_and_is_recorded_as_a_crm_event(db, factory, tmp_path) -> None:
    """Runbook 2.2 step 1 for real: Prometheus -> Alertmanager (shipped routing) -> Slack #mrdj-ops and the CRM."""
    if not shutil.which(PROMETHEUS) or not shutil.which(ALERTMANAGER_BINARY):
        pytest.skip(f"!!!!! {PROMETHEUS} or {ALERTMANAGER_BINARY} is NOT INSTALLED (Debian packages prometheus, "
                    "prometheus-alertmanager): end-to-end alert delivery check SKIPPED !!!!!")
    from sqlalchemy import select

    from rentguy_crm.events.models import Event
    from tests.slack_fake import slack_webhook_fake

    tenant, raw_key = await prepare_instance(db, factory, tmp_path)

    with slack_webhook_fake() as slack:
        def delivered(_alerts: list[dict[str, Any]]) -> bool:
            return any("CrmAutomationFailureRateHigh" in text for text in slack.texts())

        await asyncio.to_thread(run_stack, tmp_path, raw_key, delivered,
                                lambda crm_url: alertmanager_test_config(tmp_path, slack.url, crm_url, raw_key))
        post = next(p for p in slack.posts if "CrmAutomationFailureRateHigh" in json.dumps(p))
    assert post["channel"] == "#mrdj-ops"
    assert "#22-automation-failure-rate--2" in json.dumps(post)
    async with db.session() as session:
        events = (await session.scalars(select(Event).where(Event.type == "alert.firing"))).all()
    names = {(e.payload["alertname"], e.payload["labels"].get("workflow")) for e in events}
    assert ("CrmAutomationFailureRateHigh", "lead_intake") in names
    assert all(e.tenant_id == tenant.id for e in events)
