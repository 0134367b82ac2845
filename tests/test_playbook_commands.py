"""Every command and path the playbook names exists and takes the arguments it is given there: the user's own
playbook (Dutch, the steps as operations wrote them) and docs/playbook.md (each step mapped to the suite)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from rentguy_crm import migrate
from rentguy_crm.automation.engine.cli import playbook_app
from rentguy_crm.cli import app as cli
from tests.obs_support import REPO

MAPPED = REPO / "docs" / "playbook.md"
# The user's playbook is the first part of docs/playbook.md's steps (the lines without "In de suite").
PLACEHOLDERS = {"<naam>": "bart", "<flow>": "lead_intake", "<ID>": "1", "<id>": "1", '"..."': '"storing"'}
PATH = re.compile(r"`((?:ops|automation|auth|configs|docs|src|migrations)/[\w./-]+|[\w-]+\.(?:md|ini|cron|py))[` ]")


def inline_code(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def commands(prefix: str) -> list[str]:
    found = []
    for code in inline_code(MAPPED.read_text()):
        if code.startswith(prefix) and "…" not in code and "|" not in code:
            for name, value in PLACEHOLDERS.items():
                code = code.replace(name, value)
            found.append(code)
    return sorted(set(found))


def parse(group: Any, words: list[str]) -> None:
    """Resolve the command and parse its arguments exactly as the command line would, without running it."""
    command = typer.main.get_command(group)
    ctx = command.make_context("crm", list(words), resilient_parsing=False)
    while hasattr(command, "commands") and [*getattr(ctx, "_protected_args", []), *ctx.args]:
        name, *rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command '{name}' in {' '.join(words)}"
        ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
        command = sub


def test_every_path_the_playbooks_name_exists() -> None:
    names = set(PATH.findall(MAPPED.read_text()))
    assert {"automation/workers.py", "ops/cron/m365_sync.cron", "auth/sso_mrdj.md",
            "automation/tools/clone_templates.py"} <= names
    missing = [n for n in names if not (REPO / n.rstrip("/")).exists()]
    assert missing == []


CRM_COMMANDS = commands("crm ")


def test_the_mapped_playbook_names_the_crm_commands_of_each_runbook() -> None:
    assert len(CRM_COMMANDS) >= 15


@pytest.mark.parametrize("line", CRM_COMMANDS)
def test_a_crm_command_of_the_playbook_parses_as_written(line: str) -> None:
    parse(cli, shlex.split(line)[1:])


@pytest.mark.parametrize("line", commands("automation/workers.py "))
def test_the_workers_entry_point_takes_the_playbooks_arguments(line: str) -> None:
    parse(playbook_app, shlex.split(line)[1:])


def test_the_clone_templates_entry_point_takes_the_playbooks_arguments() -> None:
    [line] = [c for c in commands("automation/tools/clone_templates.py") if "--dry-run" in c]
    parse(cli, ["templates", "clone", *shlex.split(line)[1:]])
    done = subprocess.run([sys.executable, "automation/tools/clone_templates.py", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--dry-run" in done.stdout


def test_the_alembic_downgrade_target_of_the_playbook_is_a_revision() -> None:
    [line] = [c for c in inline_code(MAPPED.read_text()) if c.startswith("alembic downgrade")][:1]
    target = line.split()[-1]
    assert target in migrate.revisions() and (REPO / "alembic.ini").exists()


def test_the_smoke_test_command_of_the_playbook_selects_the_suites_smoke_tests() -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "tenant_smoke", "--tenant=mrdj", "--case=sso",
                           "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "test_tenant_smoke.py" in done.stdout


def test_the_systemd_unit_the_playbook_stops_exists_with_a_grace_period() -> None:
    unit = (REPO / "ops" / "systemd" / "mrdj-crm-workers.service").read_text()
    assert "systemctl stop mrdj-crm-workers" in MAPPED.read_text()
    grace = int(re.search(r"--grace (\d+)", unit).group(1))  # type: ignore[union-attr]
    assert int(re.search(r"TimeoutStopSec=(\d+)", unit).group(1)) > grace  # type: ignore[union-attr]


def test_the_deploy_kit_is_where_the_playbook_says_alembic_and_pytest_come_from() -> None:
    text = MAPPED.read_text()
    assert "docs/deploy.md" in text and Path(REPO / "docs" / "deploy.md").exists()
