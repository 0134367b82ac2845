"""A real Prometheus (the Debian package) scrapes the running app and the worker exporter with the shipped rules,
and reports the alerts as firing through its own API; with the real Alertmanager, the alert reaches a Slack fake
and the CRM's webhook."""

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

import httpx
import pytest
import yaml

from rentguy_crm.db import utcnow
from tests.obs_support import PYTHON, REPO, add_runs, add_workflow, child_env, free_port, stop, wait_http

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

PROMETHEUS = os.environ.get("CRM_PROMETHEUS_BINARY", "/usr/bin/prometheus")
RULES = REPO / "ops" / "prometheus" / "rules" / "crm.yml"
ALERTMANAGER = REPO / "ops" / "alertmanager" / "alertmanager.yml"
ALERTMANAGER_BINARY = os.environ.get("CRM_ALERTMANAGER_BINARY", "/usr/bin/prometheus-alertmanager")
TIME_BUDGET = 90.0


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
            hook["url"] = crm_url + "/api/v1/webhooks/alertmanager"
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


def run_stack(tmp: Path, done: Callable[[list[dict[str, Any]]], bool] | None = None,
              alertmanager: Callable[[str], Path] | None = None) -> list[dict[str, Any]]:
    """Start app, stand-in worker exporter, Prometheus (and Alertmanager when given its config factory, which gets
    the app's URL); wait until both alerts fire and `done` holds; return the firing alerts."""
    started = time.monotonic()
    processes: list[subprocess.Popen[bytes]] = []
    env = child_env()
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        api_port = free_port()
        processes.append(subprocess.Popen(
            [PYTHON, "-m", "uvicorn", "rentguy_crm.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(api_port), "--log-level", "warning"], cwd=REPO, env=env))
        port_file = tmp / "worker-port"
        processes.append(subprocess.Popen(
            [PYTHON, str(REPO / "tests" / "standin_engine_exporter.py"), str(port_file), str(TIME_BUDGET)],
            cwd=REPO, env=env))
        wait_http(f"http://127.0.0.1:{api_port}/metrics", proc=processes[0])
        while not port_file.exists() or not port_file.read_text():
            assert time.monotonic() - started < 20, "the worker exporter did not start"
            time.sleep(0.1)
        rules = tmp / "crm-fast.yml"
        fast_rules(RULES, rules)
        alertmanager_target = None
        if alertmanager is not None:
            am_port = free_port()
            am_config = alertmanager(f"http://127.0.0.1:{api_port}")
            with open(tmp / "alertmanager.log", "wb") as am_log:
                processes.append(subprocess.Popen(
                    [ALERTMANAGER_BINARY, f"--config.file={am_config}", f"--storage.path={tmp / 'am-data'}",
                     f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=", "--log.level=warn"],
                    cwd=tmp, stdout=subprocess.DEVNULL, stderr=am_log))
            wait_http(f"http://127.0.0.1:{am_port}/-/ready", proc=processes[-1], timeout=30)
            alertmanager_target = f"127.0.0.1:{am_port}"
        config = tmp / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(
            f"127.0.0.1:{api_port}", f"127.0.0.1:{port_file.read_text()}", rules, alertmanager_target)))
        prom_port = free_port()
        with open(tmp / "prometheus.log", "wb") as prometheus_log:
            processes.append(subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                cwd=tmp, stdout=subprocess.DEVNULL, stderr=prometheus_log))
        base = f"http://127.0.0.1:{prom_port}"
        wait_http(base + "/-/ready", proc=processes[-1], timeout=30)
        alerts: list[dict[str, Any]] = []
        while time.monotonic() - started < TIME_BUDGET:
            alerts = firing(base)
            if find(alerts, "CrmAutomationFailureRateHigh", "lead_intake") and find(
                    alerts, "CrmAutomationQueueLagAboveSla", "lead_intake") and (done is None or done(alerts)):
                return alerts
            time.sleep(1)
        log = (tmp / "prometheus.log").read_text()[-2000:]
        raise AssertionError(f"alerts not firing within {TIME_BUDGET}s: {alerts}\nprometheus log: {log}")
    finally:
        for proc in reversed(processes):
            stop(proc)


async def test_real_prometheus_fires_the_failure_rate_and_queue_lag_alerts(db, factory, tmp_path) -> None:
    if not shutil.which(PROMETHEUS):
        pytest.skip(f"!!!!! {PROMETHEUS} is NOT INSTALLED (Debian package prometheus): real Prometheus check "
                    "SKIPPED !!!!!")
    # The queue lag comes from the app's own code: a due run older than its workflow's 1-minute SLA.
    tenant = await factory.tenant("mrdj")
    await add_workflow(db, tenant, "lead_intake", sla="1m")
    await add_workflow(db, tenant, "proposal_followup", sla="1h")
    await add_runs(db, tenant, "lead_intake", "queued", 2, created_at=utcnow() - dt.timedelta(minutes=5))
    await add_runs(db, tenant, "proposal_followup", "queued", 1, created_at=utcnow() - dt.timedelta(minutes=5))

    alerts = await asyncio.to_thread(run_stack, tmp_path)

    failure = find(alerts, "CrmAutomationFailureRateHigh", "lead_intake")
    assert failure is not None
    assert failure["labels"]["tenant"] == "mrdj" and failure["labels"]["severity"] == "critical"
    assert failure["annotations"]["runbook_url"].endswith("#22-automation-failure-rate--2")
    assert float(failure["value"]) > 0.02
    # Below 2% (1 in 200) and within its SLA: no alert for proposal_followup.
    assert find(alerts, "CrmAutomationFailureRateHigh", "proposal_followup") is None
    assert find(alerts, "CrmAutomationQueueLagAboveSla", "proposal_followup") is None
    # The stand-in worker's heartbeat is fresh, so the workers are not reported missing.
    assert not [a for a in alerts if a["labels"]["alertname"] in ("CrmWorkersAbsent", "CrmWorkerHeartbeatStale")]


async def test_alert_reaches_slack_mrdj_ops_and_is_recorded_as_a_crm_event(db, factory, tmp_path) -> None:
    """Runbook 2.2 step 1 for real: Prometheus -> Alertmanager (shipped routing) -> Slack #mrdj-ops and the CRM."""
    if not shutil.which(PROMETHEUS) or not shutil.which(ALERTMANAGER_BINARY):
        pytest.skip(f"!!!!! {PROMETHEUS} or {ALERTMANAGER_BINARY} is NOT INSTALLED (Debian packages prometheus, "
                    "prometheus-alertmanager): end-to-end alert delivery check SKIPPED !!!!!")
    from sqlalchemy import select

    from rentguy_crm.events.models import Event
    from tests.slack_fake import slack_webhook_fake

    tenant = await factory.tenant("mrdj")
    await add_workflow(db, tenant, "lead_intake", sla="1m")
    await add_runs(db, tenant, "lead_intake", "queued", 1, created_at=utcnow() - dt.timedelta(minutes=5))
    raw_key = await factory.api_key(tenant, "operations", name="alertmanager")

    with slack_webhook_fake() as slack:
        def delivered(_alerts: list[dict[str, Any]]) -> bool:
            return any("CrmAutomationFailureRateHigh" in text for text in slack.texts())

        await asyncio.to_thread(run_stack, tmp_path, delivered,
                                lambda crm_url: alertmanager_test_config(tmp_path, slack.url, crm_url, raw_key))
        post = next(p for p in slack.posts if "CrmAutomationFailureRateHigh" in json.dumps(p))
    assert post["channel"] == "#mrdj-ops"
    assert "#22-automation-failure-rate--2" in json.dumps(post)
    async with db.session() as session:
        events = (await session.scalars(select(Event).where(Event.type == "alert.firing"))).all()
    names = {(e.payload["alertname"], e.payload["labels"].get("workflow")) for e in events}
    assert ("CrmAutomationFailureRateHigh", "lead_intake") in names
    assert all(e.tenant_id == tenant.id for e in events)
