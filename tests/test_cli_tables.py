"""Tables people read: how many of how many are shown and how to see more; nothing cut into a pipe; identifiers
whole at 80 columns; times in the tenant's zone, named."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rentguy_crm.cli import app as cli
from rentguy_crm.kit import console as console_module
from tests.automation_support import install_workflow, workflow_doc
from tests.obs_support import REPO, add_runs

CRM = str(Path(sys.executable).parent / "crm")
WORKFLOW = "proposal_followup_whatsapp_reminder"
ERROR = "template lead-welcome-corporate-nl conflicts with live version 3; publish or archive the draft first"


def _piped(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([CRM, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
async def ninety_seven_runs(db, factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc(key=WORKFLOW))
    created = dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)
    await add_runs(db, tenant, WORKFLOW, "failed", 97, created_at=created, error=ERROR)
    return tenant


def test_a_piped_list_says_50_of_97_and_cuts_nothing(ninety_seven_runs) -> None:  # type: ignore[no-untyped-def]
    done = _piped("runs", "list", "--tenant", "mrdj")
    assert done.returncode == 0, done.stderr
    assert "50 of 97 runs shown (from 1); more: --offset 50" in done.stdout
    assert "…" not in done.stdout
    lines = [line for line in done.stdout.splitlines() if WORKFLOW in line]
    assert len(lines) == 50 and all(ERROR in line and "PermanentDeliveryError" in line for line in lines)


def test_the_next_page_follows_from_the_offset(ninety_seven_runs) -> None:  # type: ignore[no-untyped-def]
    done = _piped("runs", "list", "--tenant", "mrdj", "--offset", "50")
    assert "47 of 97 runs shown (from 51)" in done.stdout and "more:" not in done.stdout


def test_json_carries_the_total_like_the_api(ninety_seven_runs) -> None:  # type: ignore[no-untyped-def]
    import json

    page = json.loads(_piped("runs", "list", "--tenant", "mrdj", "--limit", "10", "--json").stdout)
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (10, 97, 10, 0)


def test_at_an_80_column_terminal_identifiers_stay_whole(ninety_seven_runs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    screen = io.StringIO()
    monkeypatch.setattr(console_module, "console", Console(file=screen, force_terminal=True, width=80,
                                                           color_system=None))
    result = CliRunner().invoke(cli, ["runs", "list", "--tenant", "mrdj", "--limit", "3"])
    text = screen.getvalue()
    assert result.exit_code == 0, result.output
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert text.count(WORKFLOW) == 3 and text.count("PermanentDeliveryError") == 3
    assert "3 of 97 runs shown" in result.output + text


def test_times_are_in_the_tenants_zone_and_say_so(ninety_seven_runs) -> None:  # type: ignore[no-untyped-def]
    done = _piped("runs", "list", "--tenant", "mrdj", "--limit", "1")
    # 10:00 UTC on 1 July is 12:00 summer time in Amsterdam.
    assert "2026-07-01 12:00:00 CEST" in done.stdout and "times in Europe/Amsterdam" in done.stdout


@pytest.mark.parametrize("command", [
    ["workflows", "list", "--tenant", "mrdj"], ["apikeys", "list"], ["tenants", "list"], ["ratelimit", "show"],
    ["templates", "list", "--tenant", "mrdj"], ["workers", "status"], ["runs", "list"]])
def test_no_list_command_cuts_a_cell_into_a_pipe(ninety_seven_runs, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    name = "key for the website backend of Mr. DJ, rotated every quarter by operations"
    assert CliRunner().invoke(cli, ["apikeys", "create", "--tenant", "mrdj", "--role", "sales", "--name",
                                    name]).exit_code == 0
    done = _piped(*command)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    if command[0] == "apikeys":
        assert name in done.stdout
