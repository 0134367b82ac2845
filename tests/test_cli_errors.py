"""Every `crm` command given bad arguments (unknown ids, unknown tenants, bad revisions, unreadable files) answers
one clear `error:` line and a non-zero exit: never a traceback, never a claim that something happened."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rentguy_crm.cli import app as cli
from tests.obs_support import REPO, child_env

CRM = str(Path(sys.executable).parent / "crm")
MISSING = "/nonexistent/crm/file.json"
NO_TENANT = "nosuchtenant"

# One bad call per command at least; test_the_sweep_covers_every_command keeps this list complete.
BAD_CALLS: list[list[str]] = [
    ["quickstart", "--config", MISSING],
    ["tenants", "provision", MISSING],
    ["tenants", "provision", "/"],
    ["tenants", "show", NO_TENANT],
    ["tenants", "list", "extra-argument"],
    ["apikeys", "create", "--tenant", NO_TENANT, "--role", "sales", "--name", "x"],
    ["apikeys", "create", "--tenant", "mrdj", "--role", "nosuchrole", "--name", "x"],
    ["apikeys", "list", "--tenant", NO_TENANT],
    ["apikeys", "revoke", "999999"],
    ["users", "list", "--tenant", NO_TENANT],
    ["users", "show", "999999", "--tenant", "mrdj"],
    ["users", "disable", "999999", "--tenant", "mrdj"],
    ["users", "enable", "999999", "--tenant", "mrdj"],
    ["users", "login-link", "--tenant", "mrdj", "--email", "not-an-address", "--role", "admin"],
    ["users", "login-link", "--tenant", "mrdj", "--email", "a@b.example", "--role", "nosuchrole"],
    ["users", "sessions", "list", "--tenant", NO_TENANT],
    ["users", "sessions", "revoke", "--tenant", "mrdj"],
    ["users", "sessions", "revoke", "--tenant", "mrdj", "--session", "999999"],
    ["db", "upgrade", "nonsense"],
    ["db", "downgrade", "nonsense"],
    ["db", "current", "extra-argument"],
    ["workflows", "validate", MISSING],
    ["workflows", "sync", "--tenant", NO_TENANT],
    ["workflows", "list", "--tenant", NO_TENANT],
    ["workflows", "show", "nosuchflow", "--tenant", "mrdj"],
    ["workflows", "pause", "--tenant", NO_TENANT, "--workflow", "lead_intake"],
    ["workflows", "pause", "--tenant", "mrdj", "--workflow", "nosuchflow"],
    ["workflows", "resume", "--tenant", "mrdj", "--workflow", "nosuchflow"],
    ["workers", "run", "--plugin", "no.such.plugin.module"],
    ["workers", "status", "--tenant", NO_TENANT],
    ["runs", "list", "--tenant", NO_TENANT],
    ["runs", "list", "--status", "nonsense"],
    ["runs", "list", "--since", "2"],
    ["runs", "show", "999999"],
    ["runs", "start", "--workflow", "lead_intake", "--lead", "999999"],
    ["runs", "retry", "999999"],
    ["runs", "cancel", "999999"],
    ["ratelimit", "show", "--tenant", NO_TENANT],
    ["release-notes", "--tenant", NO_TENANT, "--since", "2025-03-01"],
    ["release-notes", "--tenant", "mrdj", "--since", "maart"],
    ["release-notes", "--tenant", "mrdj", "--since", "2025-03-01", "--output", "/"],
    ["ratelimit", "set", "nosuchprofile", "--tenant", "mrdj"],
    ["ratelimit", "set", "relaxed", "--tenant", NO_TENANT],
    ["ratelimit", "set", "relaxed", "--tenant", "mrdj", "--for", "2"],
    ["ratelimit", "revert-expired", "extra-argument"],
    ["integrations", "m365", "sync", "--tenant", NO_TENANT],
    ["secrets", "check", "--tenant", NO_TENANT],
    ["secrets", "put", "vault:no-key-given"],
    ["secrets", "put", "env:NOT_A_VAULT_REFERENCE"],
    ["templates", "list", "--tenant", NO_TENANT],
    ["templates", "show", "nosuchtemplate", "--tenant", "mrdj"],
    ["templates", "create", "k", "--tenant", "mrdj", "--channel", "email", "--subject", "s", "--text-file", MISSING],
    ["templates", "edit", "nosuchtemplate", "--tenant", "mrdj", "--subject", "s"],
    ["templates", "preview", "nosuchtemplate", "--tenant", "mrdj"],
    ["templates", "diff", "nosuchtemplate", "--tenant", "mrdj"],
    ["templates", "publish", "nosuchtemplate", "--tenant", "mrdj"],
    ["templates", "archive", "nosuchtemplate", "--tenant", "mrdj", "--version", "99"],
    ["templates", "clone", "--tenant", NO_TENANT, "--dry-run"],
    ["templates", "clone", "--tenant", "mrdj", "--from-tenant", NO_TENANT, "--dry-run"],
    ["reports", "automation-sla", "--tenant", "mrdj", "--week", "2026-48"],
    ["reports", "automation-sla", "--tenant", NO_TENANT, "--week", "2025-W10"],
    ["reports", "retro", "--tenant", "mrdj", "--month", "2026-13"],
    ["reports", "list", "--tenant", NO_TENANT],
    ["reports", "show", "999999", "--tenant", "mrdj"],
    ["reports", "send", "999999", "--tenant", "mrdj"],
    ["reports", "metabase-provision", "--url", "http://127.0.0.1:9", "--username", "a", "--password-file", MISSING],
    ["feedback", "add", "--tenant", "mrdj", "--text", "x", "--workflow", "nosuchflow"],
    ["feedback", "list", "--tenant", "mrdj", "--month", "nonsense"],
    ["observability", "watchdog", "extra-argument"],
    ["observability", "metrics", "extra-argument"],
    ["tickets", "list", "--tenant", NO_TENANT],
    ["tickets", "list", "--tenant", "mrdj", "--status", "nonsense"],
    ["tickets", "show", "999999", "--tenant", "mrdj"],
    ["tickets", "create", "--tenant", "mrdj", "--subject", "x", "--activity", "nonsense"],
    ["tickets", "reply", "999999", "hallo", "--tenant", "mrdj"],
    ["tickets", "note", "999999", "hallo", "--tenant", "mrdj"],
    ["tickets", "assign", "999999", "--tenant", "mrdj", "--team", "support"],
    ["tickets", "status", "999999", "nonsense", "--tenant", "mrdj"],
    ["tickets", "priority", "999999", "P4", "--tenant", "mrdj"],
    ["tickets", "link", "999999", "lead", "1", "--tenant", "mrdj"],
    ["tickets", "tick", "999999", "2.2", "1", "--tenant", "mrdj"],
    ["tickets", "breaches", "--tenant", NO_TENANT],
    ["tickets", "retry-dispatch", "999999", "--tenant", "mrdj"],
    ["tickets", "deliver", "extra-argument"],
    ["contacts", "merge", "--tenant", "mrdj", "999998", "999999", "--reason", "same person"],
    ["import", "contacts", "/nonexistent/contacts.csv", "--tenant", "mrdj"],
    ["import", "leads", "/nonexistent/leads.csv", "--tenant", "mrdj"],
    ["export", "contacts", "--tenant", NO_TENANT],
    ["export", "leads", "--tenant", NO_TENANT],
    ["privacy", "export", "--tenant", "mrdj", "--email", "not-an-address", "--output", "/tmp/x.zip"],
    ["privacy", "erase", "--tenant", "mrdj", "--email", "not-an-address", "--request", "R-1"],
    ["privacy", "policy", "--tenant", NO_TENANT],
    ["privacy", "retention", "--tenant", NO_TENANT, "--dry-run"],
    ["serve", "--port", "not-a-port"],
    ["run", "--port", "not-a-port"],
]


def _leaf_commands(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subs = getattr(command, "commands", None)
    if not subs:
        return [prefix]
    return [leaf for name, sub in subs.items() for leaf in _leaf_commands(sub, (*prefix, name))]


def test_the_sweep_covers_every_command() -> None:
    leaves = set(_leaf_commands(typer.main.get_command(cli)))
    swept = {tuple(word for word in call if not word.startswith("-"))[:len(leaf)]
             for call in BAD_CALLS for leaf in leaves if tuple(call[:len(leaf)]) == leaf}
    assert leaves - swept == set()


@pytest.mark.parametrize("call", BAD_CALLS, ids=[" ".join(c) for c in BAD_CALLS])
def test_a_bad_call_answers_one_clear_line_and_no_traceback(call: list[str], mrdj) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, call)
    assert result.exit_code in (1, 2), result.output
    # Anything but a clean exit means the exception escaped the command (CliRunner catches what would print).
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 1 and call[:2] != ["workflows", "validate"]:  # that one speaks `file:line: message`
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and len(errors[0]) > len("error: ") + 10, result.output


def test_downgrade_to_an_unknown_revision_names_the_known_ones_and_changes_nothing(mrdj) -> None:  # type: ignore[no-untyped-def]
    before = CliRunner().invoke(cli, ["db", "current"]).output
    result = CliRunner().invoke(cli, ["db", "downgrade", "nonsense"])
    assert result.exit_code == 1
    assert re.search(r"unknown revision 'nonsense'; known: 2025_03_01_add_crm_tables, ", result.output)
    assert CliRunner().invoke(cli, ["db", "current"]).output == before


def test_revoking_a_key_twice_says_already_revoked(factory, mrdj) -> None:  # type: ignore[no-untyped-def]
    created = CliRunner().invoke(cli, ["apikeys", "create", "--tenant", "mrdj", "--role", "sales", "--name", "k",
                                       "--json"])
    key_id = __import__("json").loads(created.output)["id"]
    first = CliRunner().invoke(cli, ["apikeys", "revoke", str(key_id)])
    second = CliRunner().invoke(cli, ["apikeys", "revoke", str(key_id)])
    assert first.exit_code == 0 and first.output.startswith(f"Revoked API key {key_id}")
    assert second.exit_code == 0
    assert "already revoked at" in second.output and "Revoked API key" not in second.output


def test_pausing_a_paused_workflow_says_it_was_already_paused(mrdj) -> None:  # type: ignore[no-untyped-def]
    assert CliRunner().invoke(cli, ["workflows", "sync", "--tenant", "mrdj"]).exit_code == 0
    pause = ["workflows", "pause", "--tenant", "mrdj", "--workflow", "lead_intake", "--reason", "storing"]
    first = CliRunner().invoke(cli, pause)
    second = CliRunner().invoke(cli, pause)
    assert first.exit_code == 0 and "paused: queued runs wait" in first.output
    assert second.exit_code == 0 and "was already paused since" in second.output, second.output


def test_the_playbook_entry_point_answers_a_bad_call_without_a_traceback(mrdj) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run([sys.executable, str(REPO / "automation" / "workers.py"), "pause", "--tenant", NO_TENANT,
                           "--workflow", "lead_intake"], cwd=REPO, env=child_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("error:"), done.stderr
