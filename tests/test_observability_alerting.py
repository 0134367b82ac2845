"""The shipped alert rules and Alertmanager routing, checked by Prometheus' own tools."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import pytest
import yaml

from tests.obs_support import REPO

RULES = REPO / "ops" / "prometheus" / "rules" / "crm.yml"
RULE_TESTS = REPO / "ops" / "prometheus" / "tests" / "crm_test.yml"
PROMETHEUS_CONFIG = REPO / "ops" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = REPO / "ops" / "alertmanager" / "alertmanager.yml"
PLAYBOOK_ANCHORS = {"#21-lead-capture-api-outage", "#22-automation-failure-rate--2"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = (f"!!!!! {name} is NOT INSTALLED: the alerting checks that need it are SKIPPED. "
                   f"Install it with `bash ops/install-test-tools.sh` (Debian packages prometheus, "
                   f"prometheus-alertmanager). !!!!!")
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=REPO)


def test_promtool_accepts_the_rules() -> None:
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    result = run(tool("promtool"), "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_example_prometheus_config() -> None:
    result = run(tool("promtool"), "check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - firing == set(), "alerts without a firing test"
    assert alerts - quiet == set(), "alerts without a not-firing test"


def test_every_alert_has_severity_summary_and_a_playbook_runbook() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            url = rule["annotations"]["runbook_url"]
            assert url.startswith("https://git.rentguy.nl/crm/blob/main/docs/playbook.md#"), rule["alert"]
            assert url[url.index("#"):] in PLAYBOOK_ANCHORS, rule["alert"]
            # Per-tenant alerts keep their tenant (and workflow) labels through the aggregation.
            if "scope" not in rule["labels"]:
                assert "by (tenant" in rule["expr"] or "on (tenant" in rule["expr"], rule["alert"]


def test_failure_rate_alert_is_the_two_percent_rule_with_a_volume_guard() -> None:
    rules = {r.get("alert") or r.get("record"): r for g in yaml.safe_load(RULES.read_text())["groups"]
             for r in g["rules"]}
    expr = rules["CrmAutomationFailureRateHigh"]["expr"]
    assert "> 0.02" in expr and ">= 20" in expr
    assert 'status=~"failed|dead"' in rules["crm:automation_runs_failed:increase10m"]["expr"]
    assert "[10m]" in rules["crm:automation_runs_finished:increase10m"]["expr"]


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = run(tool("amtool"), "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def routes_for(*labels: str) -> list[str]:
    result = run(tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split(",")


def test_a_mrdj_failure_rate_alert_goes_to_the_mrdj_ops_slack_receiver() -> None:
    assert "mrdj-ops-slack" in routes_for("tenant=mrdj", "alertname=CrmAutomationFailureRateHigh",
                                          "workflow=lead_intake", "severity=critical")


def test_a_worker_alert_without_tenant_also_reaches_mrdj_ops() -> None:
    assert "mrdj-ops-slack" in routes_for("alertname=CrmWorkersAbsent", "scope=platform", "severity=critical")


def test_another_tenants_alert_does_not_reach_mrdj() -> None:
    assert "mrdj-ops-slack" not in routes_for("tenant=other", "alertname=CrmAutomationFailureRateHigh")


def test_mrdj_slack_receiver_posts_to_mrdj_ops_with_resolved_messages_and_groups_by_workflow() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    assert config["route"]["group_by"] == ["alertname", "workflow"]
    receiver = next(r for r in config["receivers"] if r["name"] == "mrdj-ops-slack")
    slack = receiver["slack_configs"][0]
    assert slack["channel"] == "#mrdj-ops" and slack["send_resolved"] is True
    assert "api_url_file" in slack and "api_url" not in slack  # the webhook URL is a secret file


def test_watchdog_dashboard_and_rule_use_the_same_threshold_window_and_volume_guard() -> None:
    import json

    from rentguy_crm.observability import watchdog

    rules = {r.get("alert") or r.get("record"): r for g in yaml.safe_load(RULES.read_text())["groups"]
             for r in g["rules"]}
    expr = rules["CrmAutomationFailureRateHigh"]["expr"]
    assert f"> {watchdog.THRESHOLD}" in expr and f">= {watchdog.MIN_FINISHED_RUNS}" in expr
    assert f"[{int(watchdog.WINDOW.total_seconds() // 60)}m]" in rules["crm:automation_runs_failed:increase10m"]["expr"]
    assert set(watchdog.FAILED_STATUSES) == {"failed", "dead"}
    dashboard = json.loads((REPO / "ops" / "grafana" / "dashboards" / "automation_throughput.json").read_text())
    panel = next(p for p in dashboard["panels"] if p["title"].startswith("Failure rate"))
    assert 'status=~"failed|dead"' in panel["targets"][0]["expr"] and "[10m]" in panel["targets"][0]["expr"]
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == watchdog.THRESHOLD


def test_crm_events_receiver_posts_to_the_webhook_route_with_an_alerts_ingest_key() -> None:
    from urllib.parse import urlsplit

    from rentguy_crm.app import create_app
    from rentguy_crm.auth.permissions import ROLES, Permission

    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    receiver = next(r for r in config["receivers"] if r["name"] == "mrdj-crm-events")
    [hook] = receiver["webhook_configs"]
    path = urlsplit(hook["url"]).path
    assert path == "/api/v1/webhooks/alertmanager" and "post" in create_app().openapi()["paths"][path]
    auth = hook["http_config"]["authorization"]
    assert auth["type"] == "Bearer" and auth["credentials_file"] and "credentials" not in auth
    # The key the docs tell operators to create has a role that may ingest alerts.
    docs = (REPO / "docs" / "observability.md").read_text()
    assert "crm apikeys create --tenant mrdj --role operations --name alertmanager" in docs
    assert Permission.ALERTS_INGEST in ROLES["operations"]
