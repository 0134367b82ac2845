"""Cloning: each action (create, update, unchanged, conflict), --publish/--force, exit codes, and a dry run that
leaves the database byte-for-byte unchanged."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from rentguy_crm.model_registry import metadata
from rentguy_crm.templates import cloning, schemas, service
from rentguy_crm.templates.models import Template, TemplateVersion

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "automation" / "tools" / "clone_templates.py"


async def clone(db, slug: str, **kwargs: Any) -> schemas.CloneReport:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await cloning.clone(session, slug, actor="test", **kwargs)


def actions(report: schemas.CloneReport, key: str | None = None) -> set[str]:
    return {r.action for r in report.rows if key is None or r.key == key}


async def live_text(db, tenant, key: str, language: str = "nl") -> str:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        resolved = await service.resolve(session, tenant, key, "email" if "slack" not in key else "slack",
                                         language=language)
        return resolved.version.text_body


async def edit_and_publish(db, tenant, key: str, text_body: str) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        template = await session.scalar(select(Template).where(
            Template.tenant_id == tenant.id, Template.key == key, Template.language == "nl"))
        live = await session.scalar(select(TemplateVersion).where(
            TemplateVersion.template_id == template.id, TemplateVersion.status == "live"))
        _t, new = await service.edit(session, tenant, live.id, schemas.TemplateUpdate(text_body=text_body), "test")
        await service.publish(session, tenant, new.id, "test")


async def test_first_clone_creates_every_library_template_as_drafts(db, factory) -> None:
    await factory.tenant("mrdj")
    report = await clone(db, "mrdj")
    assert actions(report) == {"create"}
    assert report.ok and all(r.result == "draft v1" for r in report.rows)
    async with db.session() as session:
        statuses = set((await session.scalars(select(TemplateVersion.status))).all())
    assert statuses == {"draft"}


async def test_second_clone_finds_everything_unchanged(db, factory) -> None:
    await factory.tenant("mrdj")
    await clone(db, "mrdj", publish=True)
    again = await clone(db, "mrdj", publish=True)
    assert actions(again) == {"unchanged"}
    assert "0 create, 0 update" in again.summary


async def test_changed_source_updates_an_unedited_copy(db, factory) -> None:
    source = await factory.tenant("source", templates={"shareable_with": ["mrdj"]})
    target = await factory.tenant("mrdj")
    await clone(db, "source", only=["lead-welcome"], publish=True)
    await clone(db, "mrdj", from_tenant="source", publish=True)
    await edit_and_publish(db, source, "lead-welcome", "Nieuwe tekst {{ contact.first_name }}")
    report = await clone(db, "mrdj", from_tenant="source", publish=True)
    assert {(r.language, r.action) for r in report.rows} == {("nl", "update"), ("en", "unchanged")}
    assert await live_text(db, target, "lead-welcome") == "Nieuwe tekst {{ contact.first_name }}"


async def test_copy_edited_by_the_tenant_is_a_conflict_and_is_kept(db, factory) -> None:
    target = await factory.tenant("mrdj")
    await clone(db, "mrdj", only=["lead-welcome"], publish=True)
    await edit_and_publish(db, target, "lead-welcome", "Onze eigen tekst {{ contact.first_name }}")
    report = await clone(db, "mrdj", only=["lead-welcome"], publish=True)
    nl = next(r for r in report.rows if r.language == "nl")
    assert (nl.action, nl.live_version) == ("conflict", 2)
    assert nl.result.startswith("skipped")
    assert report.ok is False
    assert await live_text(db, target, "lead-welcome") == "Onze eigen tekst {{ contact.first_name }}"


async def test_force_overwrites_a_conflicting_copy(db, factory) -> None:
    target = await factory.tenant("mrdj")
    await clone(db, "mrdj", only=["lead-welcome"], publish=True)
    await edit_and_publish(db, target, "lead-welcome", "Onze eigen tekst {{ contact.first_name }}")
    report = await clone(db, "mrdj", only=["lead-welcome"], publish=True, force=True)
    assert report.ok
    assert (await live_text(db, target, "lead-welcome")).startswith("{% if contact.first_name %}Hoi")


async def test_conflicts_without_publish_are_left_alone_but_not_an_error(db, factory) -> None:
    target = await factory.tenant("mrdj")
    await clone(db, "mrdj", only=["lead-welcome"], publish=True)
    await edit_and_publish(db, target, "lead-welcome", "Eigen {{ contact.first_name }}")
    report = await clone(db, "mrdj", only=["lead-welcome"])
    assert "conflict" in actions(report) and report.ok


async def dump(db) -> dict[str, list[tuple[Any, ...]]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(table.select().order_by(*table.primary_key.columns))).all()
            out[table.name] = [tuple(r) for r in rows]
        if db.dialect == "postgresql":
            out["sequences"] = [tuple(r) for r in (await conn.execute(text(
                "SELECT sequencename, last_value FROM pg_sequences ORDER BY sequencename"))).all()]
        await conn.rollback()
    return out


async def sqlite_file_digest(db, url: str) -> str:  # type: ignore[no-untyped-def]
    """SHA-256 of the database file after moving the WAL into it.

    The checkpoint runs on one of the suite's own connections, and the file is read by another process: closing
    any handle on the file in this process would drop SQLite's POSIX locks on it, and the next process to close
    its connection would then take itself for the last one and remove the WAL under our feet."""
    path = make_url(url).database
    assert path
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        cursor = await raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _log, _checkpointed = await cursor.fetchone()
        assert busy == 0
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
        path, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(reader.communicate(), 120)
    return out.decode().strip()


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)


@pytest.mark.slow  # runs the entry point in a subprocess
async def test_dry_run_leaves_the_database_byte_for_byte_unchanged(db, factory, database_url) -> None:
    tenant = await factory.tenant("mrdj")
    await clone(db, "mrdj", only=["lead-welcome", "ops-alert"], publish=True)
    await edit_and_publish(db, tenant, "lead-welcome", "Eigen {{ contact.first_name }}")
    before = await dump(db)
    file_before = await sqlite_file_digest(db, database_url) if db.dialect == "sqlite" else ""

    result = run_script("--tenant", "mrdj", "--dry-run", "--publish", "--force")

    assert result.returncode == 0, result.stderr
    assert "conflict" in result.stdout and "create" in result.stdout and "unchanged" in result.stdout
    assert "dry run, nothing written" in result.stdout
    assert await dump(db) == before
    if db.dialect == "sqlite":
        assert await sqlite_file_digest(db, database_url) == file_before


@pytest.mark.slow  # runs the entry point in a subprocess
async def test_dry_run_json_lists_live_versions(db, factory) -> None:
    await factory.tenant("mrdj")
    await clone(db, "mrdj", only=["ops-alert"], publish=True)
    result = run_script("--tenant", "mrdj", "--only", "ops-alert", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert [(r["language"], r["live_version"], r["action"]) for r in report["rows"]] == [
        ("nl", 1, "unchanged"), ("en", 1, "unchanged")]


@pytest.mark.slow  # runs the entry point in a subprocess
async def test_unknown_tenant_exits_non_zero_with_a_message(db) -> None:
    result = run_script("--tenant", "nobody", "--dry-run")
    assert result.returncode != 0
    assert "No tenant 'nobody'" in result.stderr


@pytest.mark.slow  # runs the entry point in a subprocess
async def test_unknown_only_key_exits_non_zero_and_names_the_key(db, factory) -> None:
    await factory.tenant("mrdj")
    result = run_script("--tenant", "mrdj", "--only", "lead-welcom", "--dry-run")
    assert result.returncode != 0
    assert "lead-welcom" in result.stderr and "lead-welcome" in result.stderr


@pytest.mark.slow  # runs the entry point in a subprocess
async def test_publishing_with_conflicts_without_force_exits_non_zero(db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    await clone(db, "mrdj", only=["lead-welcome"], publish=True)
    await edit_and_publish(db, tenant, "lead-welcome", "Eigen {{ contact.first_name }}")
    result = run_script("--tenant", "mrdj", "--only", "lead-welcome", "--publish")
    assert result.returncode == 3
    assert "--force" in result.stderr
