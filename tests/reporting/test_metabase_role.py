"""`ops/metabase/readonly_role.sql` on PostgreSQL: the Metabase role reads the reporting views (and the Automation
SLA question runs as it) and cannot read base tables. Roles are server-wide, so the test gives it its own name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from rentguy_crm.reporting import metabase

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ("crm_report_runs_daily", "crm_report_automation_sla_weekly", "crm_report_failed_runs")
BASE_TABLES = ("contacts", "leads", "deals", "crm_automation_runs", "tenants", "api_keys", "crm_reports")


@pytest.fixture
def admin(database_url: str) -> Iterator[psycopg.Connection]:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("database roles are PostgreSQL's (set CRM_TEST_DATABASE_URL)")
    plain = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        yield conn


@pytest.fixture
def reader(admin: psycopg.Connection) -> Iterator[str]:
    name = f"metabase_reader_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    sql = (ROOT / "ops" / "metabase" / "readonly_role.sql").read_text().replace("metabase_reader", name)
    admin.execute(sql)
    admin.execute(sql)  # running it again is harmless
    yield name
    admin.execute(f"DROP OWNED BY {name}")
    admin.execute(f"DROP ROLE {name}")


def as_role(admin: psycopg.Connection, role: str, query: str) -> list[tuple[object, ...]]:
    with admin.transaction():
        admin.execute(f"SET LOCAL ROLE {role}")
        return admin.execute(query).fetchall()


def test_the_role_reads_every_reporting_view(db, admin: psycopg.Connection, reader: str) -> None:
    for view in VIEWS:
        assert as_role(admin, reader, f"SELECT COUNT(*) FROM {view}") == [(0,)]


def test_the_automation_sla_question_runs_as_the_role(db, admin: psycopg.Connection, reader: str) -> None:
    as_role(admin, reader, metabase.question_sql().replace("{{tenant}}", "'mrdj'"))


@pytest.mark.parametrize("table", BASE_TABLES)
def test_the_role_cannot_read_base_tables(db, admin: psycopg.Connection, reader: str, table: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_role(admin, reader, f"SELECT * FROM {table} LIMIT 1")


def test_the_role_cannot_write(db, admin: psycopg.Connection, reader: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_role(admin, reader, "CREATE TABLE metabase_scratch (id int)")
