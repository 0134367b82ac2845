"""`crm templates …` as a person at a terminal uses it: tables by default, JSON on request, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def crm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "crm"), *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, cwd=ROOT, timeout=60)


@pytest.mark.slow
async def test_create_publish_list_and_refusal_from_the_command_line(db, factory, tmp_path) -> None:
    await factory.tenant("mrdj")
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("Hoi {{ contact.first_name }}")
    bad.write_text("Hoi\n{{ contact.iban }}")
    assert crm("templates", "create", "ops-note", "-t", "mrdj", "-c", "slack", "--text-file", str(good),
               "--variables", "contact.first_name").returncode == 0
    assert crm("templates", "publish", "ops-note", "-t", "mrdj").returncode == 0
    listed = crm("templates", "list", "-t", "mrdj", "--json")
    assert [(t["key"], t["live_version"]) for t in json.loads(listed.stdout)] == [("ops-note", 1)]

    assert crm("templates", "edit", "ops-note", "-t", "mrdj", "-v", "1", "--text-file", str(bad)).returncode == 0
    refused = crm("templates", "publish", "ops-note", "-t", "mrdj")
    assert refused.returncode == 1
    assert "contact.iban" in refused.stderr and "text_body line 2" in refused.stderr
    table = crm("templates", "list", "-t", "mrdj")
    assert "ops-note" in table.stdout and table.returncode == 0
