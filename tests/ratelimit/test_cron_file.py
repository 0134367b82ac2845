"""`ops/cron/m365_sync.cron` (named by playbook 2.1 step 2): valid schedules that call commands that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from croniter import croniter
from typer.testing import CliRunner

from rentguy_crm.cli import app as cli

CRON = Path(__file__).resolve().parents[2] / "ops" / "cron" / "m365_sync.cron"
LINE = re.compile(r"^#?\s*((?:\S+\s+){5})crm eval \"\$CRM ([^\"]+)\"")


def schedule_lines() -> list[tuple[str, str]]:
    found = []
    for raw in CRON.read_text().splitlines():
        match = LINE.match(raw.strip())
        if match:
            found.append((match.group(1).strip(), match.group(2)))
    return found


def test_cron_file_has_the_sync_and_the_profile_line() -> None:
    commands = [command for _when, command in schedule_lines()]
    assert "integrations m365 sync --tenant mrdj" in commands
    assert any(c.startswith("ratelimit set --tenant mrdj relaxed --for 2h") for c in commands)


def test_every_schedule_is_valid_and_every_command_parses() -> None:
    runner = CliRunner()
    for when, command in schedule_lines():
        assert croniter.is_valid(when), when
        args = shlex.split(command)
        # --help on the full command line proves the command and its options exist without running it.
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_outage_instructions_name_the_exact_command() -> None:
    assert "crm ratelimit set --tenant mrdj relaxed --for 2h --by <your name>" in CRON.read_text()
