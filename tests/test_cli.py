"""The `crm` command: every command and group answers --help; keys, tenants and the database from the CLI."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rentguy_crm.cli import app as cli
from rentguy_crm.model_registry import metadata
from tests.factories import MRDJ_CONFIG


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    # Groups are the commands that have sub-commands (Typer ships its own click, so no isinstance check).
    for name, sub in (getattr(command, "commands", None) or {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


COMMAND_PATHS = _command_paths(typer.main.get_command(cli))


def test_the_walk_finds_the_known_groups() -> None:
    assert {("tenants",), ("apikeys",), ("db",), ("tenants", "provision"), ("apikeys", "create"),
            ("db", "current")} <= set(COMMAND_PATHS)


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=[" ".join(p) or "crm" for p in COMMAND_PATHS])
def test_every_command_and_group_answers_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_created_key_authenticates_and_revoked_key_is_401(client, db) -> None:
    # The CLI runs its own event loop, so it runs in a thread here.
    await asyncio.to_thread(_invoke, "tenants", "provision", str(MRDJ_CONFIG))
    out = await asyncio.to_thread(_invoke, "apikeys", "create", "--tenant", "mr-dj", "--role", "sales",
                                  "--name", "cli test", "--json")
    created = json.loads(out)
    assert created["key"].startswith("rg_")
    assert (created["tenant"], created["roles"]) == ("mrdj", ["sales"])
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/api/v1/crm/pipelines", headers=headers)).status_code == 200
    await asyncio.to_thread(_invoke, "apikeys", "revoke", str(created["id"]))
    assert (await client.get("/api/v1/crm/pipelines", headers=headers)).status_code == 401
    listed = json.loads(await asyncio.to_thread(_invoke, "apikeys", "list", "--tenant", "mrdj", "--json"))
    assert [(k["id"], k["status"]) for k in listed] == [(created["id"], "revoked")]
    assert created["key"] not in json.dumps(listed)


def test_create_key_for_unknown_tenant_fails_with_a_message(db) -> None:
    result = CliRunner().invoke(cli, ["apikeys", "create", "--tenant", "nobody", "--role", "sales", "--name", "x"])
    assert result.exit_code == 1
    assert "No tenant 'nobody'" in result.output


def test_create_key_with_unknown_role_fails_with_a_message(db) -> None:
    _invoke("tenants", "provision", str(MRDJ_CONFIG))
    result = CliRunner().invoke(cli, ["apikeys", "create", "--tenant", "mrdj", "--role", "boss", "--name", "x"])
    assert result.exit_code == 1
    assert "Unknown role(s) boss" in result.output


def test_tenants_list_json(db) -> None:
    _invoke("tenants", "provision", str(MRDJ_CONFIG))
    tenants = json.loads(_invoke("tenants", "list", "--json"))
    assert [(t["slug"], t["aliases"], t["timezone"]) for t in tenants] == [("mrdj", ["mr-dj"], "Europe/Amsterdam")]


def test_tenants_list_table(db) -> None:
    _invoke("tenants", "provision", str(MRDJ_CONFIG))
    out = _invoke("tenants", "list")
    assert "mrdj" in out and "Mr. DJ" in out


def test_tenants_show_json(db) -> None:
    _invoke("tenants", "provision", str(MRDJ_CONFIG))
    shown = json.loads(_invoke("tenants", "show", "mr-dj", "--json"))
    assert [p["key"] for p in shown["config"]["pipelines"]] == ["wedding", "corporate", "festival", "general"]


def test_db_current_prints_the_revision_once(db) -> None:
    from rentguy_crm import migrate

    out = _invoke("db", "current").strip()
    assert out == migrate.current()
    assert out.endswith("(head)")
    assert metadata.tables  # the revision printed is the one the tables above came from
