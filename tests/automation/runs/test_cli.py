"""The operations commands: the playbook's automation/workers.py door and the crm commands behind it."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from rentguy_crm.automation.runs.models import WorkflowPause
from tests.automation_support import install_workflow, queued_run, workflow_doc

ROOT = Path(__file__).resolve().parents[3]
CRM = str(Path(sys.executable).parent / "crm")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", "COLUMNS": "200"}
    return subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


async def test_playbook_entry_point_pauses_and_resumes_a_workflow(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc())
    paused = _run(sys.executable, "automation/workers.py", "pause", "--tenant", "mrdj", "--workflow",
                  "lead_intake", "--reason", "SMTP storing")
    assert paused.returncode == 0, paused.stderr
    async with db.session() as session:
        pause = await session.scalar(select(WorkflowPause))
        assert pause is not None and (pause.workflow_key, pause.reason) == ("lead_intake", "SMTP storing")
    status = _run("./automation/workers.py", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["queue"]["paused"][0]["workflow"] == "lead_intake"
    resumed = _run("./automation/workers.py", "resume", "--tenant", "mrdj", "--workflow", "lead_intake")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    async with db.session() as session:
        assert await session.scalar(select(WorkflowPause)) is None


async def test_pausing_a_workflow_the_tenant_does_not_have_fails_clearly(db, factory) -> None:  # type: ignore[no-untyped-def]
    await factory.tenant()
    result = _run(CRM, "workflows", "pause", "--tenant", "mrdj", "--workflow", "lead_intakee")
    assert result.returncode == 1
    assert "has no workflow 'lead_intakee'" in result.stderr


async def test_runs_list_show_cancel_and_retry_from_the_command_line(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc())
    lead = await factory.lead(tenant)
    run = await queued_run(db, wf, lead_id=lead.id)
    listed = json.loads(_run(CRM, "runs", "list", "--tenant", "mrdj", "--status", "queued", "--since", "1h",
                             "--json").stdout)
    assert [r["id"] for r in listed["items"]] == [run.id] and listed["total"] == 1
    assert _run(CRM, "runs", "cancel", str(run.id)).returncode == 0
    shown = json.loads(_run(CRM, "runs", "show", str(run.id), "--json").stdout)
    assert shown["status"] == "cancelled" and shown["step_log"] == []
    retried = json.loads(_run(CRM, "runs", "retry", str(run.id), "--json").stdout)
    assert retried["status"] == "queued"
    bad = _run(CRM, "runs", "list", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since" in bad.stderr


async def test_runs_start_queues_a_manual_run_for_a_lead(db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc())
    lead = await factory.lead(tenant)
    started = _run(CRM, "runs", "start", "--workflow", "lead_intake", "--lead", str(lead.id), "--json")
    assert started.returncode == 0, started.stderr
    body = json.loads(started.stdout)
    assert (body["status"], body["trigger"], body["lead_id"]) == ("queued", "manual", lead.id)


def test_workers_unit_stops_later_than_the_grace_period_and_restarts_on_failure() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "ops/systemd/mrdj-crm-workers.service")
    service = unit["Service"]
    grace = float(re.search(r"--grace (\d+)", service["ExecStart"]).group(1))  # type: ignore[union-attr]
    assert "crm workers run --tenant mrdj" in service["ExecStart"]
    assert float(service["TimeoutStopSec"]) > grace
    assert (service["KillSignal"], service["Restart"]) == ("SIGTERM", "on-failure")
    assert service["EnvironmentFile"]
