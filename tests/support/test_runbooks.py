"""The runbooks as data: the playbook's steps as written, every command and path they name exists and parses,
alerts find their runbook, and the actions call the suite's services."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from rentguy_crm import migrate
from rentguy_crm.app import create_app
from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.automation.engine.cli import playbook_app
from rentguy_crm.automation.runs.models import AutomationRun, WorkflowPause
from rentguy_crm.automation.workflows import service as workflows_service
from rentguy_crm.cli import app as cli
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.kit import clock
from rentguy_crm.ratelimit import service as ratelimit
from rentguy_crm.support import runbook_actions
from rentguy_crm.support.runbook_actions import ACTIONS
from rentguy_crm.support.runbooks import load_runbook, run_action, runbook_for_alert, runbooks
from rentguy_crm.tenants.scope import TenantScope
from tests.obs_support import REPO
from tests.test_playbook_commands import parse

PLACEHOLDERS = {"{tenant}": "mrdj", "<naam>": "bart", "<flow>": "lead_intake", "<ID>": "1", "<datum>": "2025-03-01",
                '"..."': '"storing"'}


def normalized(text: str) -> str:
    return " ".join(text.split())


def filled(command: str) -> list[str]:
    for name, value in PLACEHOLDERS.items():
        command = command.replace(name, value)
    return shlex.split(command)


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading (what docs links and the alert rules' runbook_url use)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: str) -> set[str]:
    return {anchor(line.lstrip("#")) for line in (REPO / path).read_text().splitlines() if line.startswith("#")}


STEPS = [(r.key, s) for r in runbooks().values() for s in r.steps]


def test_the_four_runbooks_of_the_playbook_are_there_with_their_steps() -> None:
    assert {key: len(r.steps) for key, r in runbooks().items()} == {"2.1": 4, "2.2": 5, "2.3": 4, "5": 3}


@pytest.mark.parametrize(("key", "step"), STEPS, ids=[f"{k}-{s.number}" for k, s in STEPS])
def test_each_step_is_the_playbooks_dutch_text_as_written(key: str, step: Any) -> None:
    playbook = normalized((REPO / "docs" / "playbook.md").read_text())
    assert normalized(step.text) in playbook


def route_exists(method: str, path: str) -> bool:
    for template, operations in create_app().openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in operations:
            return True
    return False


def check_command(command: str) -> None:
    words = filled(command)
    head, args = words[0], words[1:]
    if head == "crm":
        parse(cli, args)
    elif head == "automation/workers.py":
        assert (REPO / head).exists()
        parse(playbook_app, args)
    elif head == "automation/tools/clone_templates.py":
        assert (REPO / head).exists()
        parse(cli, ["templates", "clone", *args])
    elif head == "pytest":
        assert "tenant_smoke" in args and (REPO / "tests" / "test_tenant_smoke.py").exists()
    elif head == "alembic":
        assert args[0] == "downgrade" and args[1] in migrate.revisions()
    elif head == "systemctl":
        assert (REPO / "ops" / "systemd" / f"{args[-1]}.service").exists()
    elif head == "curl":
        assert route_exists("GET", "/" + args[-1].split("/", 3)[-1])
    elif head in ("GET", "POST", "PUT"):
        assert route_exists(head, args[0])
    else:
        pytest.fail(f"the runbook names a command this test does not know how to check: {command}")


COMMANDS = sorted({c for _k, s in STEPS for c in (s.command, s.undo_command) if c})


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_a_runbook_names_exists_and_parses(command: str) -> None:
    check_command(command)


LINKS = sorted({link for r in runbooks().values() for link in [r.link, *(s.link for s in r.steps)] if link})


@pytest.mark.parametrize("link", LINKS)
def test_every_link_a_runbook_names_exists_with_its_anchor(link: str) -> None:
    path, _, fragment = link.partition("#")
    assert (REPO / path).exists()
    if fragment:
        assert fragment in anchors(path)


def test_every_alert_with_a_runbook_url_finds_the_runbook_it_points_at() -> None:
    rules = yaml.safe_load((REPO / "ops" / "prometheus" / "rules" / "crm.yml").read_text())
    pointed = {rule["alert"]: rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
               for group in rules["groups"] for rule in group["rules"]
               if "alert" in rule and "runbook_url" in rule.get("annotations", {})}
    assert pointed
    for alert, fragment in pointed.items():
        found = runbook_for_alert(alert)
        assert found is not None, alert
        assert found.link.endswith("#" + fragment)


def test_every_action_key_is_an_action_and_an_unknown_runbook_names_the_known_ones() -> None:
    used = {k for _k, s in STEPS for k in (s.action, s.undo_action) if k}
    assert used == set(ACTIONS)
    with pytest.raises(KeyError, match=r"known: 2\.1"):
        load_runbook("9.9")


# --- actions ------------------------------------------------------------------------------------------------------

@pytest.fixture
async def tenant(db: Any, factory: Any) -> Any:
    tenant = await factory.tenant("mrdj")
    async with db.session() as session:
        await workflows_service.sync(session, tenant.slug)
    return tenant


async def act(db: Any, tenant: Any, key: str, **params: Any) -> str:
    async with db.session() as session:
        return await run_action(session, TenantScope(tenant.id), key, params)


async def test_attach_status_reports_each_component_as_the_app_registers_it(app: Any, db: Any, tenant: Any) -> None:
    text = await act(db, tenant, "attach_status")
    assert text.startswith("/status ")
    assert "- database: ok" in text and "- workers:" in text


async def test_attach_status_says_when_no_process_registered_the_report(db: Any, tenant: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runbook_actions, "_status_report", None)
    assert "not available in this process" in await act(db, tenant, "attach_status")


async def test_attach_flow_errors_lists_the_flows_failed_and_dead_runs_with_contacts_masked(db: Any,
                                                                                            tenant: Any) -> None:
    now = clock.now()
    async with db.session() as session:
        for status, workflow, age in [("failed", "lead_intake", 5), ("dead", "lead_intake", 10),
                                      ("failed", "proposal_followup", 5), ("failed", "lead_intake", 180),
                                      ("completed", "lead_intake", 5)]:
            session.add(AutomationRun(
                tenant_id=tenant.id, workflow_key=workflow, trigger_type="lead.created", subject_type="lead",
                status=status, attempt=5, run_after=now, created_at=now - dt.timedelta(minutes=age),
                last_error_type="PermanentDeliveryError",
                last_error_message="smtp: 550 mailbox jan@example.org unknown, sms +31 6 1234 5678"))
    text = await act(db, tenant, "attach_flow_errors", workflow="lead_intake", since="1h")
    assert text.splitlines()[0] == "2 failed or dead run(s) of workflow lead_intake in the last 1h:"
    assert [line.split()[5] for line in text.splitlines()[1:]] == ["dead", "failed"]
    assert "jan@example.org" not in text and "1234 5678" not in text
    assert "<e-mail>" in text


async def test_pause_and_resume_a_workflow_through_the_workflow_service(db: Any, tenant: Any) -> None:
    first = await act(db, tenant, "pause_workflow", workflow="lead_intake", reason="storing", actor="runbook:T-1")
    again = await act(db, tenant, "pause_workflow", workflow="lead_intake")
    assert "paused at" in first and "already paused" in again
    async with db.session() as session:
        assert await session.scalar(select(WorkflowPause.paused_by)) == "runbook:T-1"
    assert "resumed" in await act(db, tenant, "resume_workflow", workflow="lead_intake")
    assert "was not paused" in await act(db, tenant, "resume_workflow", workflow="lead_intake")
    async with db.session() as session:
        actions = (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.like("automation.workflow.%")).order_by(AuditEntry.id))).all()
    assert actions == ["automation.workflow.pause", "automation.workflow.resume"]


async def test_switch_rate_limit_profile_for_a_duration(db: Any, tenant: Any) -> None:
    text = await act(db, tenant, "switch_rate_limit_profile", profile="relaxed", **{"for": "2h"})
    assert text.startswith("rate-limit profile relaxed for 2h, until ")
    async with db.session() as session:
        current = await ratelimit.current(session, tenant)
    assert current.profile == "relaxed"
    assert current.until is not None
    assert dt.timedelta(hours=1, minutes=59) < current.until - clock.now() <= dt.timedelta(hours=2)


@pytest.mark.parametrize(("key", "params", "field"), [
    ("switch_rate_limit_profile", {"profile": "relaxed", "for": "2"}, "params.for"),
    ("switch_rate_limit_profile", {"profile": "relaxed"}, "params.for"),
    ("switch_rate_limit_profile", {"profile": "turbo", "for": "1h"}, "params.profile"),
    ("pause_workflow", {}, "params.workflow"),
    ("explode", {}, "action")])
async def test_bad_action_input_is_a_validation_error_naming_it(db: Any, tenant: Any, key: str,
                                                                params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await act(db, tenant, key, **params)
    assert [e["field"] for e in caught.value.errors or []] == [field]


async def test_template_clone_dry_run_lists_the_live_templates_and_writes_nothing(db: Any, tenant: Any) -> None:
    async with db.session() as session:
        before = await session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    text = await act(db, tenant, "template_clone_dry_run")
    assert "(dry run, nothing written)" in text.splitlines()[0]
    assert "- lead-welcome (email, nl): " in text
    async with db.session() as session:
        assert await session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) == before
