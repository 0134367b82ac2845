"""Migrations: a full round trip on an empty database, the documented downgrade target, and models that agree
with what the migrations build (autogenerate finds nothing), on the database the suite runs on."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from rentguy_crm import migrate
from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.db import sync_url
from rentguy_crm.model_registry import metadata

FIRST = "2025_03_01_add_crm_tables"


def _head() -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None
    return head


# Migration commands run their own event loop, so these tests are synchronous and inspect with a sync driver.
def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _not_a_test_table(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Some tests make tables of their own (named test_*) to count side effects; they are not the schema.
    return not (type_ == "table" and reflected and compare_to is None and (name or "").startswith("test_"))


def _differences(url: str) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": _not_a_test_table})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_to_base_and_upgrade_again(scratch_database_url: str) -> None:
    url = scratch_database_url
    migrate.upgrade("head", url=url)
    assert migrate.current(url).startswith(_head())
    assert {"contacts", "deals", "crm_automation_runs", "audit_log"} <= _tables(url)
    migrate.downgrade("base", url=url)
    assert _tables(url) <= {"alembic_version"}
    migrate.upgrade("head", url=url)
    assert set(metadata.tables) <= _tables(url)


def test_downgrade_to_the_first_revision_from_head_works(scratch_database_url: str) -> None:
    url = scratch_database_url
    migrate.upgrade("head", url=url)
    migrate.downgrade(FIRST, url=url)
    assert migrate.current(url).startswith(FIRST)
    assert {"tenants", "contacts", "deals"} <= _tables(url)


@pytest.mark.slow
def test_alembic_command_line_round_trip_from_the_repository_root(scratch_database_url: str) -> None:
    env = {**os.environ, "CRM_DATABASE_URL": scratch_database_url}
    alembic = [sys.executable, "-m", "alembic"]
    for args in (["upgrade", "head"], ["downgrade", FIRST], ["downgrade", "base"], ["upgrade", "head"],
                 ["check"]):
        result = subprocess.run([*alembic, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"alembic {' '.join(args)}: {result.stderr}"


def test_models_and_migrations_agree_on_the_test_database(migrated: str) -> None:
    assert _differences(migrated) == []


def test_models_and_migrations_agree_after_a_round_trip(scratch_database_url: str) -> None:
    migrate.upgrade("head", url=scratch_database_url)
    migrate.downgrade("base", url=scratch_database_url)
    migrate.upgrade("head", url=scratch_database_url)
    assert _differences(scratch_database_url) == []
