"""`crm tickets`: a ticket's life from the command line, and --help on every command."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from rentguy_crm.cli import app as cli

COMMANDS = sorted(typer.main.get_command(cli).commands["tickets"].commands)  # type: ignore[attr-defined]


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["tickets", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_tickets_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, ["tickets", command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_a_ticket_from_open_to_closed(mrdj) -> None:  # type: ignore[no-untyped-def]
    opened = json.loads(_run("create", "--tenant", "mrdj", "--subject", "Formulier kapot", "--activity",
                             "lead_capture_issue", "--priority", "P2", "--incident", "--runbook", "2.1",
                             "--by", "bart", "--json"))
    number = str(opened["number"])
    assert (opened["queue"], opened["accountable_team"], opened["status"]) == ("operations", "sales", "new")
    _run("reply", number, "We kijken ernaar", "--tenant", "mrdj", "--by", "bart")
    _run("note", number, "Rate-limit naar relaxed", "--tenant", "mrdj")
    _run("assign", number, "--tenant", "mrdj", "--team", "engineering")
    _run("link", number, "alert", "3f2a9c", "--tenant", "mrdj")
    _run("tick", number, "2.1", "2", "--tenant", "mrdj", "--output", "profile relaxed for 2h")
    _run("status", number, "closed", "--tenant", "mrdj", "--note", "fixed")
    shown = json.loads(_run("show", number, "--tenant", "mrdj", "--json"))
    assert shown["status"] == "closed" and shown["first_responded_at"]
    assert shown["assignee_team"] == "engineering"
    assert [(x["target_type"], x["target_ref"]) for x in shown["links"]] == [("alert", "3f2a9c")]
    assert [(t["runbook_key"], t["step_number"]) for t in shown["runbook_ticks"]] == [("2.1", 2)]
    assert {"reply", "note", "change"} <= {e["kind"] for e in shown["timeline"]}
    assert "tracker.retro" in {d["action"] for d in shown["dispatches"]}
    listed = json.loads(_run("list", "--tenant", "mrdj", "--status", "closed", "--json"))
    assert [t["number"] for t in listed] == [opened["number"]]


def test_closing_twice_is_refused_with_one_clear_line(mrdj) -> None:  # type: ignore[no-untyped-def]
    number = str(json.loads(_run("create", "--tenant", "mrdj", "--subject", "x", "--activity", "data_correction",
                                 "--json"))["number"])
    _run("status", number, "closed", "--tenant", "mrdj")
    result = CliRunner().invoke(cli, ["tickets", "status", number, "open", "--tenant", "mrdj"])
    assert result.exit_code == 1
    assert "cannot go from closed to open" in result.output
